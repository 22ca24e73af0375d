package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/idbatch/idbatch/config"
)

// command is one subcommand as the help shows it.
type command struct {
	name     string
	summary  string // one line, in the command list
	about    string // what it does, for 'idbatch help CMD'
	examples []string
	config   bool // takes -c (the help names the config's role)
}

// commands is every subcommand, in the order the help lists them.
var commands = []command{
	{name: "run", config: true,
		summary: "the scheduled job: load the manifest, submit, wait for results, export, summary",
		about: "Loads the manifest (or the S3 listing) into the Store, normalizes the images, submits each record\n" +
			"once to iDenfy under limits.requests_per_hour, waits limits.wait_for_results for results, exports\n" +
			"the records that ended to Parquet and writes the summary. Killed at any moment, the next run resumes.\n" +
			"A relative sqlite:// Store path, local manifest or local export destination is relative to the\n" +
			"config file's directory. A job the Store has never seen is refused when the export destination\n" +
			"already holds runs of it (-new-store to proceed).",
		examples: []string{
			"idbatch run -c idbatch.yaml",
			"idbatch run -c idbatch.yaml -max-submissions 100 -wait-for-results 10m",
			"idbatch run -c idbatch.yaml -job legacy-2020 -store sqlite:///var/lib/idbatch/state.db",
		}},
	{name: "demo",
		summary: "the whole pipeline on embedded defaults with generated records (no credentials, no services)",
		about: "Generates sample records, serves them from an in-process S3-compatible server, starts the iDenfy\n" +
			"sandbox in process and runs the same code path as 'idbatch run'.",
		examples: []string{"idbatch demo", "idbatch demo -n 200 -dir /tmp/idbatch-demo"}},
	{name: "validate", config: true,
		summary: "dry run: read the manifest, fetch and normalize every image, report rejections; -check: pre-flight",
		about: "Reads the manifest, fetches and normalizes every image as a run would, and reports the rejections\n" +
			"by reason, the API calls a run needs, how long they take, how many limits.max_duration runs that is\n" +
			"and (with -price-per-verification) what it costs. The rejected rows are written in the failures.csv\n" +
			"shape (manifest columns, line, reason) to <job>-rejects.csv beside the config: fixed, that file loads\n" +
			"as a manifest. No API call, no credentials needed, nothing written to the Store.\n" +
			"-check then also checks what a run needs: the credentials (one /status call, nothing spent), the Store\n" +
			"(inspected, never created or migrated), the export destination (a probe object written, read back and\n" +
			"deleted) and the webhook settings; any failed check exits 1.",
		examples: []string{"idbatch validate -c idbatch.yaml", "idbatch validate -c idbatch.yaml -sample 1000 -price-per-verification 0.90",
			"idbatch validate -c idbatch.yaml -check -sample 100", "idbatch validate -c idbatch.yaml -rejects /tmp/rejects.csv"}},
	{name: "status", config: true,
		summary:  "counts per state for a job, overdue results, orphans, last runs",
		about:    "Reads an existing Store (it never creates one) and prints counts per state, overdue results,\npossible orphan tokens and the last runs. DSN passwords are never shown.",
		examples: []string{"idbatch status -c idbatch.yaml", "idbatch status -c idbatch.yaml -json -runs 20"}},
	{name: "export", config: true,
		summary:  "export final results not yet exported; -compact merges small part files",
		about:    "Exports the records of an existing Store that ended and are not yet in a Parquet file; with\n-compact, then merges the small part files of past partitions (see docs/analysts.md).",
		examples: []string{"idbatch export -c idbatch.yaml", "idbatch export -c idbatch.yaml -compact"}},
	{name: "delete", config: true,
		summary: "GDPR deletion at iDenfy of exported, final verifications (-older-than 30d, -dry-run)",
		about: "Deletes at iDenfy (/api/v2/delete) the exported, final verifications whose result is older than\n" +
			"-older-than, records it in the Store and in _deletions/ beside the export. Needs an existing Store.",
		examples: []string{"idbatch delete -c idbatch.yaml -older-than 30d -dry-run", "idbatch delete -c idbatch.yaml -older-than 720h"}},
	{name: "report", config: true,
		summary: "write a run's HTML report again (-run ID), or the job's report across all runs",
		about: "Writes the self-contained HTML report of a run from its stored summary and the Store\n" +
			"(_runs/job=<job>/run-<id>.html beside the JSON), or, without -run, the job report across all runs\n" +
			"(_runs/job=<job>/job.html). -o writes it elsewhere (- for stdout).",
		examples: []string{"idbatch report -c idbatch.yaml", "idbatch report -c idbatch.yaml -run 20261206T224244Z-58d5ac6a -o run.html"}},
	{name: "serve", config: true,
		summary: "long-running webhook receiver (and poller, /healthz, /metrics) writing into the Store",
		about: "Receives signed webhooks into an existing Store, polls overdue results sparingly (unless\n" +
			"-poll=false) and serves /healthz and /metrics. SIGINT/SIGTERM stops it gracefully (exit 0).",
		examples: []string{"idbatch serve -c idbatch.yaml", "idbatch serve -c idbatch.yaml -listen :9090 -poll=false"}},
	{name: "sandbox",
		summary:  "run the iDenfy sandbox standalone on a port, for staging and integration tests",
		about:    "Serves a fake iDenfy API (tokens, /process, /status, /data, /delete, signed webhooks) with fault injection.",
		examples: []string{"idbatch sandbox -addr 127.0.0.1:8099 -webhook-url http://127.0.0.1:8080/webhooks/idenfy"}},
	{name: "version",
		summary:  "print the version, VCS revision and Go version",
		examples: []string{"idbatch version"}},
	{name: "help",
		summary:  "help for a command",
		examples: []string{"idbatch help run"}},
	{name: "completion",
		summary:  "print a shell completion script (bash, zsh or fish)",
		about:    "Prints a completion script of the commands and their flags.",
		examples: []string{"source <(idbatch completion bash)", "idbatch completion zsh > \"${fpath[1]}/_idbatch\"", "idbatch completion fish > ~/.config/fish/completions/idbatch.fish"}},
}

func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// globalUsage is the help of idbatch itself.
func globalUsage() string {
	var b strings.Builder
	b.WriteString("idbatch re-verifies identity documents in bulk through iDenfy's Direct Processing API.\n\n")
	b.WriteString("Usage:\n  idbatch <command> [-c config.yaml] [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'idbatch help <command>' or 'idbatch <command> -h' for its flags and examples.\n")
	b.WriteString("Exit codes: 0 done, 1 fatal, 2 usage, 3 too many failures, 130 interrupted.\n")
	return b.String()
}

// commandHelp writes a command's description, examples and flags, with
// defaults written as a user would (10m, not 10m0s; none for unset flags).
func commandHelp(w io.Writer, name string, fs *flag.FlagSet) {
	c, _ := findCommand(name)
	var b bytes.Buffer
	fmt.Fprintf(&b, "idbatch %s — %s\n\n", name, c.summary)
	if c.about != "" {
		b.WriteString(c.about + "\n\n")
	}
	fmt.Fprintf(&b, "Usage:\n  idbatch %s", name)
	if c.config {
		b.WriteString(" -c config.yaml")
	}
	b.WriteString(" [flags]\n")
	if len(c.examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, e := range c.examples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	if fs != nil {
		b.WriteString("\nFlags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			line := "  -" + f.Name
			if typ != "" {
				line += " " + typ
			}
			fmt.Fprintf(&b, "%s\n      %s", line, usage)
			if def := showDefault(f); def != "" {
				fmt.Fprintf(&b, " (default %s)", def)
			}
			b.WriteString("\n")
		})
	}
	_, _ = w.Write(b.Bytes())
}

// showDefault is a flag's default as a user writes it, or "" when it has
// none worth showing (unset sentinels, empty strings, false, zero).
func showDefault(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "false", "-1", "-1ns", "0s":
		return ""
	}
	if d, err := time.ParseDuration(f.DefValue); err == nil && strings.HasSuffix(f.DefValue, "s") {
		return config.FormatDuration(d)
	}
	if strings.ContainsAny(f.DefValue, " :/") {
		return fmt.Sprintf("%q", f.DefValue)
	}
	return f.DefValue
}

// runHelp is 'idbatch help [CMD]'.
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, globalUsage())
		return nil
	}
	c, ok := findCommand(args[0])
	if !ok {
		return &usageError{msg: fmt.Sprintf("unknown command %q\n\n%s", args[0], strings.TrimSuffix(globalUsage(), "\n"))}
	}
	f, ok := commandFuncs[c.name]
	if !ok { // version, help, completion
		commandHelp(stdout, c.name, nil)
		return nil
	}
	// The command prints its own help (it knows its flags) on -h.
	return f(ctx, []string{"-h"}, stdout, stdout)
}

// versionString is what 'idbatch version' prints: the module version, the
// VCS revision and time the binary was built from, and the Go version.
func versionString() string {
	v, rev, at, modified := version, "", "", false
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v = mv
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "idbatch %s\n", v)
	if rev != "" {
		if modified {
			rev += " (modified)"
		}
		if at != "" {
			rev += " " + at
		}
		fmt.Fprintf(&b, "  revision %s\n", rev)
	} else {
		b.WriteString("  revision unknown (built without VCS information)\n")
	}
	goVersion := runtime.Version()
	if ok && bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(&b, "  go       %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

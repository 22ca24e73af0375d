package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// commandFlags returns a command's flags (without the dash), read from its
// own help so that completion never disagrees with the command.
func commandFlags(name string) []string {
	switch name {
	case "version", "help", "completion":
		return nil
	}
	var b strings.Builder
	run(context.Background(), []string{name, "-h"}, io.Discard, &b)
	var out []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "  -"); ok {
			name, _, _ := strings.Cut(rest, " ")
			out = append(out, name)
		}
	}
	return out
}

// runCompletion prints a completion script for bash, zsh or fish.
func runCompletion(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return &usageError{msg: "name a shell: bash, zsh or fish (e.g. source <(idbatch completion bash))"}
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	switch args[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion(names))
	case "zsh":
		fmt.Fprint(stdout, "#compdef idbatch\n# zsh completion for idbatch: idbatch completion zsh > \"${fpath[1]}/_idbatch\"\n"+
			"autoload -U +X bashcompinit && bashcompinit\n"+bashCompletion(names))
	case "fish":
		var b strings.Builder
		b.WriteString("# fish completion for idbatch: idbatch completion fish > ~/.config/fish/completions/idbatch.fish\n")
		b.WriteString("complete -c idbatch -f\n")
		for _, c := range commands {
			fmt.Fprintf(&b, "complete -c idbatch -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
		}
		for _, c := range commands {
			for _, f := range commandFlags(c.name) {
				fmt.Fprintf(&b, "complete -c idbatch -n '__fish_seen_subcommand_from %s' -o %s", c.name, f)
				if f == "c" {
					b.WriteString(" -r -F")
				}
				b.WriteString("\n")
			}
		}
		fmt.Fprintf(&b, "complete -c idbatch -n '__fish_seen_subcommand_from help' -a %s\n", fishQuote(strings.Join(names, " ")))
		b.WriteString("complete -c idbatch -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
		fmt.Fprint(stdout, b.String())
	default:
		return &usageError{msg: fmt.Sprintf("unknown shell %q (bash, zsh or fish)", args[0])}
	}
	return nil
}

func bashCompletion(names []string) string {
	var b strings.Builder
	b.WriteString("# bash completion for idbatch: source <(idbatch completion bash)\n")
	b.WriteString("_idbatch() {\n  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words\n")
	b.WriteString("  if [[ $COMP_CWORD -eq 1 ]]; then\n")
	fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W %q -- \"$cur\")); return\n  fi\n", strings.Join(names, " "))
	b.WriteString("  if [[ $prev == -c ]]; then COMPREPLY=($(compgen -f -- \"$cur\")); return; fi\n")
	b.WriteString("  case ${COMP_WORDS[1]} in\n")
	for _, n := range names {
		var words []string
		switch n {
		case "help":
			words = names
		case "completion":
			words = []string{"bash", "zsh", "fish"}
		default:
			for _, f := range commandFlags(n) {
				words = append(words, "-"+f)
			}
		}
		if len(words) > 0 {
			fmt.Fprintf(&b, "    %s) words=%q ;;\n", n, strings.Join(words, " "))
		}
	}
	b.WriteString("    *) words= ;;\n  esac\n")
	b.WriteString("  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\ncomplete -o default -F _idbatch idbatch\n")
	return b.String()
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

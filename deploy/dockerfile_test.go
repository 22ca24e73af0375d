package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the idbatch repository, the Docker build context.
const repoRoot = ".."

// instruction is one Dockerfile instruction, continuation lines joined and
// comment lines dropped (as BuildKit reads them).
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

type stage struct {
	from, name string
	instrs     []instruction
}

type dockerfile struct {
	args   map[string]string // ARGs before the first FROM, with defaults
	stages []stage
}

// parseDockerfile reads the subset of the Dockerfile syntax this project
// uses: instructions, `\` continuations, comment lines, global ARGs.
func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var instrs []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		instrs = append(instrs, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: a continuation runs past the end", path)
	}
	df := dockerfile{args: map[string]string{}}
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				t.Fatalf("%s:%d: FROM %s: want FROM image [AS name]", path, in.line, in.args)
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0:
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			k, v, _ := strings.Cut(in.args, "=")
			df.args[k] = strings.Trim(v, `"`)
		default:
			s := &df.stages[len(df.stages)-1]
			s.instrs = append(s.instrs, in)
		}
	}
	return df
}

// expandArgs replaces ${NAME} with the global ARGs' defaults.
func (df dockerfile) expandArgs(s string) string {
	return os.Expand(s, func(k string) string { return df.args[k] })
}

// goModVersion is go.mod's go line, as major.minor.
func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// goBuildRun is the build stage's RUN that runs go build: its shell script
// (without the --mount options).
func goBuildRun(t *testing.T, st stage) string {
	t.Helper()
	for _, in := range st.instrs {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		script := in.args
		for strings.HasPrefix(script, "--") {
			_, script, _ = strings.Cut(script, " ")
			script = strings.TrimSpace(script)
		}
		return script
	}
	t.Fatal("the build stage has no RUN with go build")
	return ""
}

const (
	binaryInImage = "/usr/local/bin/idbatch"
	buildOutput   = "/out/idbatch"
	nonrootUID    = "65532" // distroless nonroot; the pods' runAsUser
)

func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if got, want := df.args["GO_VERSION"], goModVersion(t); got != want {
		t.Errorf("ARG GO_VERSION=%s, go.mod says go %s", got, want)
	}
	if len(df.stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, final)", len(df.stages))
	}
	build, final := df.stages[0], df.stages[1]

	if from := df.expandArgs(build.from); !strings.HasPrefix(from, "golang:"+goModVersion(t)) || build.name != "build" {
		t.Errorf("build stage: FROM %s AS %s, want golang:%s… AS build", from, build.name, goModVersion(t))
	}
	cgoEnv := false
	for _, in := range build.instrs {
		if in.cmd == "ENV" && regexp.MustCompile(`(^|\s)CGO_ENABLED=0(\s|$)`).MatchString(in.args) {
			cgoEnv = true
		}
	}
	if !cgoEnv {
		t.Error("build stage: no ENV CGO_ENABLED=0")
	}
	script := goBuildRun(t, build)
	for _, want := range []string{"CGO_ENABLED=0 go build", "-trimpath", `-ldflags="-s -w`, "-X main.version=$VERSION", "-X main.revision=$REVISION",
		"-buildvcs=", "-o " + buildOutput + " ./cmd/idbatch"} {
		if !strings.Contains(script, want) {
			t.Errorf("build stage: the go build RUN lacks %q:\n%s", want, script)
		}
	}

	// The final stage: the base, the binary, a non-root user, nothing else.
	base := df.expandArgs(final.from)
	distroless := regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(base)
	if !distroless && base != "scratch" {
		t.Errorf("final stage FROM %s: want gcr.io/distroless/static…:nonroot or scratch", base)
	}
	var user, entry string
	copied := map[string]string{} // destination → source
	for _, in := range final.instrs {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) != 3 || f[0] != "--from=build" {
				t.Errorf("final stage line %d: COPY %s: only COPY --from=build SRC DST", in.line, in.args)
				continue
			}
			copied[f[2]] = f[1]
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
				t.Errorf("final stage line %d: ENTRYPOINT %s: want the exec form [\"/path/idbatch\"]", in.line, in.args)
				continue
			}
			entry = argv[0]
		case "WORKDIR", "CMD":
		default:
			t.Errorf("final stage line %d: %s: the final stage holds the binary, a user and the entry point only", in.line, in.cmd)
		}
	}
	if copied[binaryInImage] != buildOutput {
		t.Errorf("final stage: COPY --from=build %s %s missing (have %v)", buildOutput, binaryInImage, copied)
	}
	if entry != binaryInImage {
		t.Errorf("ENTRYPOINT runs %q, want %s", entry, binaryInImage)
	}
	uid, gid, _ := strings.Cut(user, ":")
	if uid != nonrootUID || gid != nonrootUID {
		t.Errorf("USER %q: want %s:%s, numeric (Kubernetes' runAsNonRoot verifies only a numeric user)", user, nonrootUID, nonrootUID)
	}
	if base == "scratch" && copied["/etc/ssl/certs/ca-certificates.crt"] == "" {
		t.Error("FROM scratch without CA certificates: TLS to iDenfy and S3 fails")
	}
}

// The Batch image adds the config and nothing else, on the image above.
func TestBatchDockerfile(t *testing.T) {
	df := parseDockerfile(t, "aws-batch/Dockerfile")
	if len(df.stages) != 1 || df.stages[0].from != "${BASE}" || !strings.HasPrefix(df.args["BASE"], "idbatch") {
		t.Fatalf("aws-batch/Dockerfile: want one stage FROM ${BASE} (an idbatch image), got %+v", df)
	}
	ins := df.stages[0].instrs
	if len(ins) != 1 || ins[0].cmd != "COPY" || ins[0].args != "config.yaml "+batchConfigPath {
		t.Errorf("aws-batch/Dockerfile: want only COPY config.yaml %s (USER and ENTRYPOINT come from the base), got %+v", batchConfigPath, ins)
	}
}

const (
	testVersion  = "v0.0.0-deploytest"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// idbatchBinary builds idbatch with the Dockerfile's own build command, run
// on the host (no Docker engine needed) with VERSION and REVISION set as
// --build-arg would, and returns its path. Built once per test binary.
func idbatchBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
		if len(df.stages) == 0 {
			buildErr = fmt.Errorf("no stages")
			return
		}
		dir, err := os.MkdirTemp("", "idbatch-deploy-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "idbatch")
		script := strings.ReplaceAll(goBuildRun(t, df.stages[0]), buildOutput, builtBin)
		cmd := exec.Command("nice", "sh", "-c", script)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "VERSION="+testVersion, "REVISION="+testRevision, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("the Dockerfile's go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// TestDockerBuildCommand runs the Dockerfile's build on the host: the binary
// is static, trimmed, and `idbatch version` prints what was stamped.
func TestDockerBuildCommand(t *testing.T) {
	bin := idbatchBinary(t)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: not static (it would not run on distroless static or scratch)")
		}
	}
	f.Close()

	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true"} {
		if !bytes.Contains(info, []byte(want)) {
			t.Errorf("go version -m: no %q in\n%s", want, info)
		}
	}

	// From a clone (.git a directory, as in the Docker build context), the
	// build stamps the VCS revision. (From a git worktree, whose .git is a
	// file, go build stamps nothing: REVISION is the way there.)
	if fi, err := os.Stat(filepath.Join(repoRoot, ".git")); err == nil && fi.IsDir() {
		head, err := exec.Command("git", "-C", repoRoot, "rev-parse", "HEAD").Output()
		if err == nil && !bytes.Contains(info, []byte("vcs.revision="+strings.TrimSpace(string(head)))) {
			t.Errorf("built in a clone at %s, but go version -m shows no vcs.revision of it:\n%s", head, info)
		}
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("idbatch version: %v\n%s", err, out)
	}
	// The module version: VERSION (-X main.version), or the one go build
	// stamped from the VCS tag when .git was there (cmd/idbatch prefers it).
	modVersion := regexp.MustCompile(`(?m)^\s+mod\s+\S+\s+(\S+)`).FindSubmatch(info)
	if !bytes.Contains(out, []byte(testVersion)) && (modVersion == nil || string(modVersion[1]) == "(devel)" || !bytes.Contains(out, modVersion[1])) {
		t.Errorf("idbatch version printed %q: neither VERSION %s nor the stamped module version (%s)", out, testVersion, modVersion)
	}
	t.Run("revision", func(t *testing.T) {
		// The revision reaches `version` by -X main.revision (REVISION) or by
		// -buildvcs (ReadBuildInfo's vcs.revision, when .git is there).
		vcsRev := regexp.MustCompile(`vcs\.revision=([0-9a-f]+)`).FindSubmatch(info)
		if bytes.Contains(out, []byte(testRevision)) || (vcsRev != nil && bytes.Contains(out, vcsRev[1])) {
			return
		}
		t.Skipf("idbatch version printed %q: no VCS revision yet; the version command must print main.revision "+
			"(set by -X) or runtime/debug.ReadBuildInfo's vcs.revision (being added in cmd/idbatch)", out)
	})
}

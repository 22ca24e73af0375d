package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestServeRunsTheManifests runs the binary the Dockerfile builds on each
// config the manifests ship, as `idbatch serve` with the env of the example
// Secret and a SQLite Store in a temporary directory: idbatch parses each
// config strictly (unknown keys fail) and validates it; serve answers
// the probes' paths (/healthz) with 200 and the webhook path (the one the
// Service exposes) with 401 to an unsigned request; SIGTERM stops it with
// exit 0. The serve workload runs with its manifest's own args, only the
// config path and the listen address (loopback, a free port) replaced.
func TestServeRunsTheManifests(t *testing.T) {
	bin := idbatchBinary(t)
	ms := loadManifests(t)
	secret, _ := find[corev1.Secret](ms, "idbatch-secrets")
	if secret == nil {
		t.Fatal("no Secret idbatch-secrets")
	}
	type target struct {
		name, config string
		args         []string // the manifest's args; nil: serve -c FILE
		probes       []string // the manifest's probe paths
	}
	var targets []target
	seen := map[string]bool{}
	for _, w := range workloads(t, ms) {
		cm, config := podConfig(t, ms, w)
		if w.command == "serve" {
			c := w.pod.Containers[0]
			var probes []string
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
				if p != nil && p.HTTPGet != nil {
					probes = append(probes, p.HTTPGet.Path)
				}
			}
			targets = append(targets, target{name: w.name, config: config, args: c.Args, probes: probes})
			seen[cm] = true
		}
	}
	for _, w := range workloads(t, ms) {
		if cm, config := podConfig(t, ms, w); !seen[cm] {
			targets = append(targets, target{name: w.name, config: config})
			seen[cm] = true
		}
	}
	b, err := os.ReadFile("aws-batch/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	targets = append(targets, target{name: "aws-batch/config.yaml", config: string(b)})

	for _, tg := range targets {
		t.Run(strings.ReplaceAll(tg.name, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(cfgPath, []byte(tg.config), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := freeLoopbackAddr(t)
			args := tg.args
			if args == nil {
				args = []string{"serve", "-c", cfgPath, "-listen", addr}
			} else {
				args = slices.Clone(args)
				for i := range args[:len(args)-1] {
					switch strings.TrimLeft(args[i], "-") {
					case "c":
						args[i+1] = cfgPath
					case "listen":
						args[i+1] = addr
					}
				}
				if !slices.Contains(args, addr) {
					t.Fatalf("%s: args %q: no -listen to point at loopback", tg.name, tg.args)
				}
			}
			// serve opens an existing Store only (a run creates it): an empty
			// file is an empty SQLite database.
			dbPath := filepath.Join(dir, "idbatch.db")
			if err := os.WriteFile(dbPath, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			dsn := "sqlite://" + dbPath
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GOMEMLIMIT=200MiB"}
			for k, v := range secret.StringData {
				if k == "IDBATCH_STORE_DSN" {
					v = dsn // the config's ${IDBATCH_STORE_DSN}: a SQLite file here
				}
				env = append(env, k+"="+v)
			}
			if store, _ := configValue(t, tg.config, "store"); store != "${IDBATCH_STORE_DSN}" {
				args = append(args, "-store", dsn)
			}
			path, _ := configValue(t, tg.config, "results.webhook_path")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = env
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			fail := func(format string, a ...any) {
				t.Helper()
				cmd.Process.Kill()
				<-exited
				t.Fatalf("%s: %s\nserve's stderr:\n%s", tg.name, fmt.Sprintf(format, a...), stderr.String())
			}

			base := "http://" + addr
			probes := tg.probes
			if len(probes) == 0 {
				probes = []string{healthzPath}
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := http.Get(base + probes[0])
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				select {
				case err := <-exited:
					exited <- err
					fail("serve exited before answering %s: %v", probes[0], err)
				default:
				}
				if time.Now().After(deadline) {
					fail("GET %s: no 200 within 20 s (last: %v)", probes[0], err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for _, p := range probes[1:] {
				resp, err := http.Get(base + p)
				if err != nil || resp.StatusCode != http.StatusOK {
					fail("GET %s (a probe): %v %v, want 200", p, resp, err)
				}
				resp.Body.Close()
			}
			resp, err := http.Post(base+path, "application/json", strings.NewReader(`{"scanRef":"x"}`))
			if err != nil {
				fail("POST %s: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				fail("POST %s unsigned: %d, want 401 (the webhook receiver)", path, resp.StatusCode)
			}

			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("%s: after SIGTERM: %v, want exit 0\n%s", tg.name, err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				fail("still running 20 s after SIGTERM")
			}
		})
	}
}

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

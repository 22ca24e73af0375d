// Package reporttest opens run reports in headless Chromium for tests: the
// report package's own test and the end-to-end test of a demo run.
package reporttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Chromium finds headless Chromium: $IDBATCH_CHROMIUM, else Debian's
// /usr/bin/chromium (installed by .ci/setup.sh). Without it the test skips
// locally and fails under CI=true.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("IDBATCH_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing: .ci/setup.sh installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium is missing: apt-get install -y chromium (or source .ci/setup.sh)")
	return ""
}

// headless runs Chromium on a file with a fresh profile, offline.
func headless(t testing.TB, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2000", "--virtual-time-budget=5000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// ArtifactDir is where screenshots are kept: $IDBATCH_TEST_ARTIFACTS/report
// when set (CI can keep them), else the test's temp dir.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("IDBATCH_TEST_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "report")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// Check opens the report at page (an HTML file) in headless Chromium,
// offline, as a reader would: every chart figure must hold an SVG that drew
// (size > 0, paths), the page's own check must pass (body data-ok), there
// must be wantCharts charts (0: any number, at least one), and no script
// error may occur. It then takes a screenshot to shot and logs its path.
func Check(t testing.TB, page string, wantCharts int, shot string) {
	t.Helper()
	bin := Chromium(t)
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + abs
	dom := string(headless(t, bin, "--dump-dom", url))
	if m := regexp.MustCompile(`data-script-error="([^"]*)"`).FindStringSubmatch(dom); m != nil {
		t.Errorf("script error in the page: %s", m[1])
	}
	body := regexp.MustCompile(`<body[^>]*>`).FindString(dom)
	if !strings.Contains(body, `data-ok="true"`) {
		t.Errorf("the page's chart check did not pass: %s", body)
	}
	figs := regexp.MustCompile(`<figure class="chart" id="chart-([a-z]+)" data-drawn="(true|false)"`).FindAllStringSubmatch(dom, -1)
	if wantCharts > 0 && len(figs) != wantCharts || len(figs) == 0 {
		t.Errorf("%d chart figures in the DOM, want %d", len(figs), wantCharts)
	}
	if !strings.Contains(body, `data-charts="`+strconv.Itoa(len(figs))+`"`) {
		t.Errorf("body %s: the page's script counted another number of charts than %d", body, len(figs))
	}
	for _, f := range figs {
		if f[2] != "true" {
			t.Errorf("chart %s did not draw", f[1])
		}
	}
	headless(t, bin, "--screenshot="+shot, "--hide-scrollbars", url)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("no screenshot (%v)", err)
	}
	t.Logf("screenshot: %s", shot)
}

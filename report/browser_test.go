package report

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/idbatch/idbatch/report/reporttest"
)

// TestReportInChromium opens the run and job reports in headless Chromium,
// offline: every chart drew and no script error occurred. The screenshots
// are kept under $IDBATCH_TEST_ARTIFACTS/report (path logged).
func TestReportInChromium(t *testing.T) {
	reporttest.Chromium(t)
	dir := reporttest.ArtifactDir(t)
	for _, c := range []struct {
		name   string
		html   string
		charts int
	}{
		{"run", runHTML(t), 5},
		{"job", jobHTML(t), 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			page := filepath.Join(dir, c.name+"-report.html")
			if err := os.WriteFile(page, []byte(c.html), 0o644); err != nil {
				t.Fatal(err)
			}
			reporttest.Check(t, page, c.charts, filepath.Join(dir, c.name+"-report.png"))
		})
	}
}

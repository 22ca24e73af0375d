package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/idbatch/idbatch/demo"
)

// runDemo runs the whole pipeline on embedded defaults: generated records in
// an in-process S3-compatible server, the iDenfy sandbox in process, a SQLite
// Store and Parquet files under ./idbatch-demo/. The same code path as `run`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr, nil)
	n := fs.Int("n", 60, "number of generated records")
	dir := fs.String("dir", "./idbatch-demo", "where the demo writes its Store and Parquet files (emptied first)")
	seed := fs.Int64("seed", 1, "seed of the generated records")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return &usageError{msg: "-n must be at least 1"}
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "idbatch demo: generating %d sample records (document photos and selfies, a few deliberately broken)…\n", *n)
	env, err := demo.Start(ctx, demo.Options{Dir: abs, N: *n, Seed: *seed})
	if err != nil {
		return err
	}
	defer env.Close()
	cfg := env.Config
	if err := cfg.Validate(true); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "idbatch demo: S3 at %s, iDenfy sandbox at %s, webhooks on %s; running…\n", env.S3URL, env.SandboxURL, env.WebhookAddr)
	sum, err := execute(ctx, cfg, execOptions{stderr: stderr, command: "demo"})
	c := env.Charges()
	fmt.Fprintf(stdout, "\nThe sandbox charged %d tokens and %d verifications for %d clients.\n", c.TokensCreated, c.ProcessesAccepted, len(c.PerClient))
	if sum.Export.Rows > 0 {
		rel, _ := filepath.Rel(".", filepath.Join(abs, "exports"))
		if rel == "" || len(rel) > len(abs) {
			rel = filepath.Join(abs, "exports")
		}
		fmt.Fprintf(stdout, "Parquet files are under %s/job=demo/. Read them with DuckDB:\n\n", rel)
		fmt.Fprintf(stdout, "  duckdb -c \"SELECT outcome, count(*) AS records FROM read_parquet('%s/job=*/dt=*/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY records DESC\"\n", rel)
	}
	return withExitCode(sum.ExitCode, err)
}

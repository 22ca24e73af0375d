package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/config"
	"github.com/idbatch/idbatch/export"
	"github.com/idbatch/idbatch/ingest"
	"github.com/idbatch/idbatch/pipeline"
	"github.com/idbatch/idbatch/pipeline/pgstore"
	"github.com/idbatch/idbatch/pipeline/sqlitestore"
	"github.com/idbatch/idbatch/submit/idenfy"
)

// StoreMode says whether and how Open opens the Store.
type StoreMode int

const (
	// NoStore: the command needs no Store (validate).
	NoStore StoreMode = iota
	// CreateStore opens the Store, creating a SQLite file and its directory
	// if needed: for run and demo.
	CreateStore
	// ExistingStore opens a Store that a run has created; a missing SQLite
	// file is an error and nothing is created: status, export, delete, serve,
	// report. On PostgreSQL a database without idbatch's tables gets them
	// (migrations run on every open): serve's Deployment may start before
	// the first worker creates them.
	ExistingStore
)

// Options are what a command needs built at Open.
type Options struct {
	Store StoreMode
	// S3 builds the S3 client when the config names an S3 location.
	S3 bool
	// Destination opens export.destination (and the S3 client it may need).
	Destination bool
	// Logger is the default logger of the limiter and the API clients; nil
	// discards.
	Logger *slog.Logger
}

// Deps are a command's dependencies: what Open built, and the API clients
// built on demand. Its methods are not for concurrent use.
type Deps struct {
	// Store is nil with NoStore.
	Store pipeline.Store
	// S3 is nil when no configured location is on S3 (or nothing asked for it).
	S3 *s3.Client
	// Dest is export.destination: nil unless Options.Destination or
	// OpenDestination opened it.
	Dest export.Destination

	cfg config.Config
	log *slog.Logger

	limitsOnce sync.Once
	limits     Limits
}

// Open builds the dependencies opts asks for, from cfg, in the order Store,
// S3, destination. On an error nothing stays open.
func Open(ctx context.Context, cfg config.Config, opts Options) (*Deps, error) {
	d := &Deps{cfg: cfg, log: opts.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if opts.Store != NoStore {
		st, err := OpenStore(ctx, cfg.Store, opts.Store)
		if err != nil {
			return nil, err
		}
		d.Store = st
	}
	var err error
	switch {
	case opts.Destination:
		_, err = d.OpenDestination(ctx)
	case opts.S3:
		err = d.openS3(ctx)
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the Store.
func (d *Deps) Close() error {
	if d.Store == nil {
		return nil
	}
	err := d.Store.Close()
	d.Store = nil
	return err
}

// openS3 builds the S3 client when a configured location is on S3.
func (d *Deps) openS3(ctx context.Context) error {
	if d.S3 != nil || !needsS3(d.cfg) {
		return nil
	}
	s := d.cfg.Source.S3
	c, err := ingest.NewS3Client(ctx, ingest.S3Config{
		Endpoint: s.Endpoint, Region: s.Region, PathStyle: s.PathStyle,
		AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey,
	})
	if err != nil {
		return err
	}
	d.S3 = c
	return nil
}

// needsS3 reports whether any configured location is on S3.
func needsS3(cfg config.Config) bool {
	return strings.HasPrefix(cfg.Source.Manifest, "s3://") || cfg.Source.List != nil ||
		strings.HasPrefix(cfg.Export.Destination, "s3://") || cfg.Source.S3.Endpoint != ""
}

// OpenDestination returns export.destination, opening it (and the S3
// client it may need) on first use. Its errors name the key.
func (d *Deps) OpenDestination(ctx context.Context) (export.Destination, error) {
	if d.Dest != nil {
		return d.Dest, nil
	}
	if err := d.openS3(ctx); err != nil {
		return nil, err
	}
	dest, err := export.OpenDestination(ctx, d.cfg.Export.Destination, d.S3)
	if err != nil {
		return nil, fmt.Errorf("export.destination: %w", err)
	}
	d.Dest = dest
	return dest, nil
}

// APIOptions are what differs between a command's API clients.
type APIOptions struct {
	// HTTPClient makes the calls (the metrics' counting client); nil: the
	// client's default.
	HTTPClient *http.Client
	// MaxRetries as idenfy.Config.MaxRetries: 0 the default, negative never
	// (the poller: every request counts against its budget, and a failed
	// poll waits for the record's backoff).
	MaxRetries int
	// Logger overrides the Deps' logger.
	Logger *slog.Logger
}

// API returns a new iDenfy client of the config's account, whose every call
// goes through Limits().API. It needs the Store (for the account budget).
func (d *Deps) API(o APIOptions) *idenfy.Client {
	log := o.Logger
	if log == nil {
		log = d.log
	}
	c := d.cfg.Idenfy
	return idenfy.New(idenfy.Config{
		BaseURL: c.BaseURL, APIKey: c.APIKey, APISecret: c.APISecret, ProcessTokenField: c.ProcessTokenField,
		Limiter: d.Limits(log).API, Logger: log, HTTPClient: o.HTTPClient, MaxRetries: o.MaxRetries,
	})
}

// OpenStore opens the Store named by dsn in mode (CreateStore or
// ExistingStore). Its errors never contain a password.
func OpenStore(ctx context.Context, dsn string, mode StoreMode) (pipeline.Store, error) {
	if mode == NoStore {
		return nil, errors.New("store: OpenStore with NoStore")
	}
	d, err := config.ParseStoreDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if d.SQLitePath != "" {
		if mode == CreateStore {
			if dir := filepath.Dir(d.SQLitePath); dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("store: %w", err)
				}
			}
		} else if fi, err := os.Stat(d.SQLitePath); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("store %s does not exist (no run has created it): check store in the config or -store; 'idbatch run' creates it", dsn)
		}
		st, err := sqlitestore.Open(ctx, d.SQLitePath)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", dsn, err)
		}
		return st, nil
	}
	st, err := pgstore.Open(ctx, d.Postgres)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", config.RedactDSN(dsn), config.RedactError(err, dsn))
	}
	return st, nil
}

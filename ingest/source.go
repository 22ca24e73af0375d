package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/pipeline"
)

// SourceOptions select where a job's records come from: a manifest, or a
// listing of an S3 prefix or local directory (exactly one), and the scope
// their images are fetched in.
type SourceOptions struct {
	Manifest string       // .csv or .jsonl; local path, file:// or s3://
	List     *ListOptions // instead of a manifest
	Objects  ObjectOptions
}

// Source is an opened record source: Read streams its records, Objects
// fetches their images inside the source's scope (the manifest's bucket or
// directory, the listed prefix's bucket or directory).
type Source struct {
	Objects *Objects
	read    func(job string, fn func(pipeline.Record) error) error
	close   func() error
	what    string
}

// OpenSource opens the source opts names. It is the one place that decides
// between a manifest and a listing, for every command.
func OpenSource(ctx context.Context, opts SourceOptions, s3c *s3.Client) (*Source, error) {
	switch {
	case opts.Manifest != "" && opts.List != nil:
		return nil, errors.New("source: give either a manifest or a list, not both")
	case opts.Manifest != "":
		m, err := OpenManifest(ctx, opts.Manifest, s3c)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		return &Source{Objects: m.Objects(s3c, opts.Objects), read: m.Read, close: m.Close, what: "manifest"}, nil
	case opts.List != nil:
		l := *opts.List
		objs, err := l.Objects(s3c, opts.Objects)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", l.Prefix, err)
		}
		read := func(job string, fn func(pipeline.Record) error) error { return List(ctx, s3c, l, job, fn) }
		return &Source{Objects: objs, read: read, close: func() error { return nil }, what: "list " + l.Prefix}, nil
	}
	return nil, errors.New("source: a manifest or a list is required")
}

// Read streams the source's records of job to fn (see ReadManifest, List).
func (s *Source) Read(job string, fn func(pipeline.Record) error) error {
	if err := s.read(job, fn); err != nil {
		return fmt.Errorf("%s: %w", s.what, err)
	}
	return nil
}

// Close releases the source.
func (s *Source) Close() error { return s.close() }

// CountSource counts the records of job in the source opts names, for
// ValidateOptions.Total (the progress's ETA): one more read of the manifest
// (or listing), nothing fetched.
func CountSource(ctx context.Context, opts SourceOptions, s3c *s3.Client, job string) (int, error) {
	src, err := OpenSource(ctx, opts, s3c)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	return CountRecords(func(fn func(pipeline.Record) error) error { return src.Read(job, fn) })
}

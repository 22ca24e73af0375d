package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/pipeline"
)

// ListOptions describes a listing source: objects under a prefix whose keys
// follow a template, grouped into one record per client id.
type ListOptions struct {
	// Prefix is "s3://bucket/prefix/" or a local directory (a path or a
	// file:// URI). An S3 prefix that does not end in "/" gets one.
	Prefix string
	// Template matches keys relative to Prefix, e.g. "{client_id}/{side}.{ext}".
	// Placeholders: {client_id} and {side} (required), {ext}, {country},
	// {document_type}. {side} matches front, back, face or utility_bill in
	// any case; {ext} letters and digits; the others any text without "/".
	// Objects whose key does not match are skipped.
	Template string
	// Country and DocumentType apply to every record when the template has
	// no {country} / {document_type}; they are then required.
	Country, DocumentType string
}

// List streams the records of a listing source to fn. Objects are listed
// with ListObjectsV2 pages (or a directory walk) in key order; a record is
// emitted as soon as the listing has passed every key that could belong to
// it, which holds only a few records in memory when the template has no
// placeholder before {client_id}. Otherwise every record is held until the
// listing ends.
//
// Records have Job, Key (the client id; "#id:<hash>" when unusable), Ref,
// Line 0, Input (Sources are s3:// URIs or absolute paths) and State pending,
// or rejected with RejectReason and ErrorMessage: Validate's verdict,
// out_of_scope when a key of the client starts with "/" or has a "." or
// ".." segment, or bad_manifest_row when two objects match one side of a
// client or the objects of a client disagree on {country} /
// {document_type}. Fetch the sources with ListOptions.Objects, which stays
// in the listed bucket or directory.
//
// Bad options, listing errors and fn's errors end List with an error.
func List(ctx context.Context, s3c *s3.Client, opts ListOptions, job string, fn func(pipeline.Record) error) error {
	tpl, err := compileTemplate(opts.Template)
	if err != nil {
		return err
	}
	g := &grouper{tpl: tpl, job: job, fn: fn, byID: make(map[string]*group)}
	if !tpl.has("country") {
		g.country = strings.ToUpper(strings.TrimSpace(opts.Country))
		if !ValidCountry(g.country) {
			return fmt.Errorf("ingest: list: country %q is not an ISO 3166-1 alpha-2 code; set a default or use {country} in the template", opts.Country)
		}
	}
	if !tpl.has("document_type") {
		g.docType = strings.ToUpper(strings.TrimSpace(opts.DocumentType))
		if !ValidDocumentType(g.docType) {
			return fmt.Errorf("ingest: list: document type %q is not one of %s; set a default or use {document_type} in the template",
				opts.DocumentType, strings.Join(DocumentTypes, ", "))
		}
	}
	if strings.HasPrefix(opts.Prefix, "s3://") {
		err = listS3(ctx, s3c, opts.Prefix, g)
	} else {
		err = listDir(ctx, opts.Prefix, g)
	}
	if err != nil {
		return err
	}
	return g.finish()
}

// Objects returns an Objects that fetches the listed objects: inside the
// listed bucket (and opt.AllowedBuckets) for an s3:// prefix, inside the
// listed directory for a local one (opt.LocalRoot does not apply: the
// listing names its own root).
func (l ListOptions) Objects(s3c *s3.Client, opt ObjectOptions) (*Objects, error) {
	o := &Objects{S3: s3c, AllowedBuckets: opt.AllowedBuckets, MaxBytes: opt.MaxBytes}
	if strings.HasPrefix(l.Prefix, "s3://") {
		bucket, _, err := ParseS3URI(l.Prefix)
		if err != nil {
			return nil, err
		}
		o.BaseBucket = bucket
		return o, nil
	}
	dir, err := listRoot(l.Prefix)
	if err != nil {
		return nil, err
	}
	o.BaseDir, o.LocalRoot = dir, dir
	return o, nil
}

// listRoot returns the absolute directory of a local listing prefix.
func listRoot(prefix string) (string, error) {
	dir := prefix
	if strings.HasPrefix(dir, "file://") {
		p, err := fileURIPath(dir)
		if err != nil {
			return "", fmt.Errorf("ingest: list %q: %w", dir, err)
		}
		dir = p
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("ingest: list: %w", err)
	}
	return root, nil
}

func listS3(ctx context.Context, s3c *s3.Client, uri string, g *grouper) error {
	if s3c == nil {
		return errors.New("ingest: list: no S3 client configured")
	}
	bucket, prefix, err := ParseS3URI(uri)
	if err != nil {
		return err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	pages := s3.NewListObjectsV2Paginator(s3c, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s3Error("ListObjectsV2", bucket, "", err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if !strings.HasPrefix(key, prefix) {
				continue
			}
			if err := g.add(key[len(prefix):], "s3://"+bucket+"/"+key); err != nil {
				return err
			}
		}
	}
	return nil
}

func listDir(ctx context.Context, dir string, g *grouper) error {
	root, err := listRoot(dir)
	if err != nil {
		return err
	}
	// A walk is not in byte order of whole paths ("a/b" comes before "a-b"),
	// so collect and sort the relative paths first.
	var rels []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			rels = append(rels, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ingest: list: %w", err)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		if err := g.add(rel, filepath.Join(root, filepath.FromSlash(rel))); err != nil {
			return err
		}
	}
	return nil
}

// keyTemplate is a compiled ListOptions.Template.
type keyTemplate struct {
	re    *regexp.Regexp
	group map[string]int // placeholder → submatch index
	// streaming: nothing but literal text precedes {client_id}, so all keys
	// of one client share the prefix literal+client_id and are contiguous
	// in key order.
	streaming bool
}

var placeholderRE = map[string]string{
	"client_id":     `([^/]+)`,
	"side":          `((?i:front|back|face|utility_bill))`,
	"ext":           `([A-Za-z0-9]+)`,
	"country":       `([^/]+)`,
	"document_type": `([^/]+)`,
}

func compileTemplate(t string) (*keyTemplate, error) {
	kt := &keyTemplate{group: make(map[string]int)}
	var re strings.Builder
	re.WriteString("^")
	rest, n := t, 0
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			re.WriteString(regexp.QuoteMeta(rest))
			break
		}
		re.WriteString(regexp.QuoteMeta(rest[:i]))
		if rest[i] == '}' {
			return nil, fmt.Errorf("ingest: list template %q: unmatched }", t)
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("ingest: list template %q: unmatched {", t)
		}
		name := rest[i+1 : i+j]
		expr, ok := placeholderRE[name]
		if !ok {
			return nil, fmt.Errorf("ingest: list template %q: unknown placeholder {%s}", t, name)
		}
		if _, dup := kt.group[name]; dup {
			return nil, fmt.Errorf("ingest: list template %q: {%s} appears twice", t, name)
		}
		n++
		kt.group[name] = n
		if name == "client_id" {
			kt.streaming = n == 1
		}
		re.WriteString(expr)
		rest = rest[i+j+1:]
	}
	re.WriteString("$")
	for _, need := range []string{"client_id", "side"} {
		if !kt.has(need) {
			return nil, fmt.Errorf("ingest: list template %q: needs {%s}", t, need)
		}
	}
	kt.re = regexp.MustCompile(re.String())
	return kt, nil
}

func (kt *keyTemplate) has(name string) bool { _, ok := kt.group[name]; return ok }

// group is the objects of one client id found so far.
type group struct {
	id       string
	prefix   string // the key prefix all its objects share; "" = unknown
	sources  map[pipeline.Side]string
	dupSides []pipeline.Side
	country  string
	docType  string
	conflict string
	scope    string // why an object of the group is refused, or ""
}

// grouper turns a stream of keys in ascending order into records.
type grouper struct {
	tpl              *keyTemplate
	job              string
	fn               func(pipeline.Record) error
	country, docType string // defaults

	open    []*group // in order of their first key
	byID    map[string]*group
	last    string
	started bool
}

func (g *grouper) add(rel, ref string) error {
	if g.started && rel <= g.last {
		return fmt.Errorf("ingest: list: the listing is not in ascending key order")
	}
	g.started, g.last = true, rel
	if err := g.flush(rel); err != nil {
		return err
	}
	m := g.tpl.re.FindStringSubmatchIndex(rel)
	if m == nil {
		return nil
	}
	sub := func(name string) string {
		i, ok := g.tpl.group[name]
		if !ok {
			return ""
		}
		return rel[m[2*i]:m[2*i+1]]
	}
	id := sub("client_id")
	grp := g.byID[id]
	if grp == nil {
		grp = &group{id: id, sources: make(map[pipeline.Side]string, 4), country: g.country, docType: g.docType}
		if g.tpl.streaming {
			grp.prefix = rel[:m[2*g.tpl.group["client_id"]+1]]
		}
		g.byID[id] = grp
		g.open = append(g.open, grp)
	}
	if _, key, err := ParseS3URI(ref); err == nil && grp.scope == "" {
		// The object is in the listed bucket, but a key with a . or ..
		// segment may name another object on servers that clean paths.
		grp.scope = keyProblem(key)
	}
	side := pipeline.Side(strings.ToUpper(sub("side")))
	if _, dup := grp.sources[side]; dup {
		grp.dupSides = append(grp.dupSides, side)
	} else {
		grp.sources[side] = ref
	}
	if g.tpl.has("country") {
		grp.country = mergeValue(grp, grp.country, strings.ToUpper(sub("country")), "country")
	}
	if g.tpl.has("document_type") {
		grp.docType = mergeValue(grp, grp.docType, strings.ToUpper(sub("document_type")), "document_type")
	}
	return nil
}

func mergeValue(grp *group, have, v, what string) string {
	if have != "" && have != v && grp.conflict == "" {
		grp.conflict = "objects of one client disagree on " + what
	}
	if have == "" {
		return v
	}
	return have
}

// flush emits the open groups that no key at or after rel can belong to.
func (g *grouper) flush(rel string) error {
	if !g.tpl.streaming || len(g.open) == 0 {
		return nil
	}
	keep := g.open[:0]
	var done []*group
	for _, grp := range g.open {
		if rel > grp.prefix && !strings.HasPrefix(rel, grp.prefix) {
			done = append(done, grp)
		} else {
			keep = append(keep, grp)
		}
	}
	clear(g.open[len(keep):])
	g.open = keep
	for _, grp := range done {
		delete(g.byID, grp.id)
		if err := g.fn(g.record(grp)); err != nil {
			return err
		}
	}
	return nil
}

func (g *grouper) finish() error {
	for _, grp := range g.open {
		if err := g.fn(g.record(grp)); err != nil {
			return err
		}
	}
	g.open, g.byID = nil, nil
	return nil
}

func (g *grouper) record(grp *group) pipeline.Record {
	in := CanonicalInput(pipeline.Input{ClientID: grp.id, Country: grp.country, DocumentType: grp.docType, Sources: grp.sources})
	key := in.ClientID
	if clientIDProblem(key) != "" {
		sum := sha256.Sum256([]byte(grp.id))
		key = "#id:" + hex.EncodeToString(sum[:8])
	}
	rec := pipeline.Record{Job: g.job, Key: key, Ref: pipeline.RefFor(g.job, key), Input: in, State: pipeline.StatePending}
	var err error
	switch {
	case grp.scope != "":
		err = outOfScope(grp.scope)
	case len(grp.dupSides) > 0:
		err = pipeline.Reject(pipeline.RejectBadManifestRow, fmt.Sprintf("several objects for %s", sideColumn(grp.dupSides[0])))
	case grp.conflict != "":
		err = pipeline.Reject(pipeline.RejectBadManifestRow, grp.conflict)
	default:
		err = Validate(in)
	}
	if err != nil {
		var re *pipeline.RejectError
		errors.As(err, &re)
		rec.State, rec.RejectReason, rec.ErrorMessage = pipeline.StateRejected, re.Code, "listing: "+re.Detail
	}
	return rec
}

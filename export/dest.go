package export

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idbatch/idbatch/objstore"
)

// The destinations live in objstore (dest_local.go, dest_s3.go, and the
// suite both pass); these names keep export's API.

// Destination is where exported files go: a local directory or an S3 prefix.
// See objstore.Dest.
type Destination = objstore.Dest

// File is a file being written to a Destination. See objstore.File.
type File = objstore.File

// FileInfo is a committed file at a destination.
type FileInfo = objstore.FileInfo

// ErrAborted is what writes to an aborted File return.
var ErrAborted = objstore.ErrAborted

// ErrNotExist is what Stat and ReadFile return for a missing file.
var ErrNotExist = objstore.ErrNotExist

// OpenDestination opens the destination named by uri: a plain local path or
// file://path (everything after file:// is a path, as in file:///abs or
// file://./rel), or s3://bucket/prefix/, written through s3c (required then).
// Nothing is created until a file is committed.
func OpenDestination(ctx context.Context, uri string, s3c *s3.Client) (Destination, error) {
	return objstore.Open(ctx, uri, s3c)
}

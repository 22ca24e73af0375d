// Package bench compares ingest.Normalize with libvips (through govips) and
// with imaging's defaults, side by side in one run. It is a module of its
// own so that cgo and libvips never enter the main module.
package bench

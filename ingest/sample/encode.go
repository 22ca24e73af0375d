package sample

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"image/png"
)

func encodeJPEG(img image.Image, quality int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		panic("sample: jpeg encode: " + err.Error()) // cannot fail writing to memory
	}
	return buf.Bytes()
}

func encodePNG(img image.Image) []byte {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		panic("sample: png encode: " + err.Error())
	}
	return buf.Bytes()
}

// storeOriented returns the pixels a camera would store for an upright image
// when it records EXIF orientation o: a viewer that applies o to the stored
// pixels shows upright again.
//
//	3: stored upside down, the viewer rotates 180°.
//	6: stored rotated 90° counter-clockwise, the viewer rotates 90° clockwise.
//	8: stored rotated 90° clockwise, the viewer rotates 90° counter-clockwise.
//
//go:norace
func storeOriented(up *image.RGBA, o int) *image.RGBA {
	w, h := up.Rect.Dx(), up.Rect.Dy()
	var out *image.RGBA
	var at func(x, y int) (int, int) // stored (x, y) → upright (x, y)
	switch o {
	case 3:
		out = image.NewRGBA(image.Rect(0, 0, w, h))
		at = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case 6:
		out = image.NewRGBA(image.Rect(0, 0, h, w))
		// Rotating the stored image 90° clockwise maps stored (x, y) to
		// display (H-1-y, x) where H = stored height = w.
		at = func(x, y int) (int, int) { return w - 1 - y, x }
	case 8:
		out = image.NewRGBA(image.Rect(0, 0, h, w))
		// Rotating 90° counter-clockwise maps stored (x, y) to display (y, W-1-x), W = h.
		at = func(x, y int) (int, int) { return y, h - 1 - x }
	default:
		return up
	}
	ow, oh := out.Rect.Dx(), out.Rect.Dy()
	for y := range oh {
		i := y * out.Stride
		for x := 0; x < ow; x, i = x+1, i+4 {
			ux, uy := at(x, y)
			j := uy*up.Stride + ux*4
			copy(out.Pix[i:i+4], up.Pix[j:j+4])
		}
	}
	return out
}

// exifSegment is a minimal APP1 Exif segment: a TIFF header and IFD0 holding
// one entry, Orientation (0x0112, SHORT, count 1).
func exifSegment(orientation int, bigEndian bool) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	tiff := []byte{'I', 'I', 0, 0, 0, 0, 0, 0}
	if bigEndian {
		bo = binary.BigEndian
		tiff[0], tiff[1] = 'M', 'M'
	}
	bo.PutUint16(tiff[2:], 42)
	bo.PutUint32(tiff[4:], 8) // IFD0 right after the header
	ifd := make([]byte, 2+12+4)
	bo.PutUint16(ifd[0:], 1)      // one entry
	bo.PutUint16(ifd[2:], 0x0112) // Orientation
	bo.PutUint16(ifd[4:], 3)      // SHORT
	bo.PutUint32(ifd[6:], 1)      // count
	bo.PutUint16(ifd[10:], uint16(orientation))
	// ifd[12:14] pads the value field; ifd[14:18] = 0: no next IFD.
	payload := append([]byte("Exif\x00\x00"), append(tiff, ifd...)...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// withExif inserts an Exif APP1 segment right after the SOI marker.
func withExif(jpg []byte, orientation int, bigEndian bool) []byte {
	seg := exifSegment(orientation, bigEndian)
	out := make([]byte, 0, len(jpg)+len(seg))
	out = append(out, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// exifOrientation returns the EXIF orientation (1..8) of a JPEG, 1 when it
// has none or it cannot be read.
func exifOrientation(data []byte) int {
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return 1
		}
		m := data[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		if m == 0xda || m == 0xd9 { // SOS, EOI: no EXIF before the pixels
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		if m == 0xe1 && n >= 8 && string(data[i+4:i+10]) == "Exif\x00\x00" {
			if o := tiffOrientation(data[i+10 : i+2+n]); o != 0 {
				return o
			}
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of IFD0 of a TIFF header; 0 if absent.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	for e := 0; e < n; e++ {
		p := off + 2 + 12*e
		if p+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[p:]) == 0x0112 && bo.Uint16(t[p+2:]) == 3 {
			if o := int(bo.Uint16(t[p+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 0
		}
	}
	return 0
}

var errJPEGStructure = errors.New("jpeg: bad marker structure")

// stripJPEGMetadata returns the JPEG without its metadata segments: every
// APPn but APP0 (JFIF) and APP14 (Adobe, which says how to read the colour
// components), and every COM, wherever they are. The entropy-coded data is
// copied byte for byte.
func stripJPEGMetadata(data []byte) ([]byte, error) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return nil, errJPEGStructure
	}
	out := bytes.NewBuffer(make([]byte, 0, len(data)))
	out.Write(data[:2])
	i := 2
	for i < len(data) {
		if data[i] != 0xff || i+1 >= len(data) {
			return nil, errJPEGStructure
		}
		m := data[i+1]
		switch {
		case m == 0xff:
			i++
			continue
		case m == 0xd9: // EOI
			out.Write(data[i : i+2])
			return out.Bytes(), nil
		case m >= 0xd0 && m <= 0xd7 || m == 0x01: // no length
			out.Write(data[i : i+2])
			i += 2
			continue
		}
		if i+4 > len(data) {
			return nil, errJPEGStructure
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		end := i + 2 + n
		if n < 2 || end > len(data) {
			return nil, errJPEGStructure
		}
		drop := m >= 0xe1 && m <= 0xef && m != 0xee || m == 0xfe
		if !drop {
			out.Write(data[i:end])
		}
		i = end
		if m != 0xda {
			continue
		}
		// Entropy-coded data runs to the next marker that is neither a
		// stuffed 0xff00 nor a restart marker.
		j := i
		for j+1 < len(data) {
			if data[j] == 0xff {
				if b := data[j+1]; b != 0 && !(b >= 0xd0 && b <= 0xd7) && b != 0xff {
					break
				}
			}
			j++
		}
		if j+1 >= len(data) {
			return nil, errJPEGStructure
		}
		out.Write(data[i:j])
		i = j
	}
	return nil, errJPEGStructure
}

// maxJPEGScans bounds the scans of a JPEG that is decoded: each scan of a
// progressive JPEG walks every block of the image, so a small file of
// thousands of tiny scans would cost minutes of CPU. Encoders write about
// ten (libjpeg's default progression).
const maxJPEGScans = 100

// jpegScans counts the SOS markers of a JPEG, stopping once it passes
// limit; a structure it cannot follow counts what it saw.
func jpegScans(data []byte, limit int) int {
	n := 0
	for i := 2; i+4 <= len(data) && n <= limit; {
		if data[i] != 0xff {
			return n
		}
		m := data[i+1]
		switch {
		case m == 0xff:
			i++
			continue
		case m == 0xd9:
			return n
		case m >= 0xd0 && m <= 0xd7 || m == 0x01:
			i += 2
			continue
		}
		l := int(binary.BigEndian.Uint16(data[i+2:]))
		if l < 2 {
			return n
		}
		i += 2 + l
		if m != 0xda {
			continue
		}
		n++
		for i+1 < len(data) && !(data[i] == 0xff && data[i+1] != 0 && !(data[i+1] >= 0xd0 && data[i+1] <= 0xd7) && data[i+1] != 0xff) {
			i++
		}
	}
	return n
}

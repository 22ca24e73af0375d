package sample

import (
	"bytes"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

func TestZZPreview(t *testing.T) {
	if os.Getenv("PREVIEW") == "" {
		t.Skip()
	}
	fs := newKit()
	for k, tc := range []struct{ cc, dt string }{{"LT", IDCard}, {"DE", Passport}, {"PL", DriverLicense}, {"FR", ResidencePermit}, {"GB", Passport}} {
		r := rand.New(rand.NewPCG(7, uint64(k)))
		c := countryByCode(tc.cc)
		per := newPerson(r, c, tc.dt)
		lk := newLook(r, per)
		t0 := time.Now()
		f := renderFront(fs, c, per, lk, r, 1, true)
		t.Logf("%s %s front %v", tc.cc, tc.dt, time.Since(t0))
		os.WriteFile("/tmp/preview/"+tc.cc+"-"+tc.dt+"-front.jpg", encodeJPEG(f, 90), 0o644)
		if tc.dt != Passport {
			b := renderBack(fs, c, per, lk, r, 1, true)
			os.WriteFile("/tmp/preview/"+tc.cc+"-"+tc.dt+"-back.jpg", encodeJPEG(b, 90), 0o644)
		}
		t0 = time.Now()
		s := renderSelfie(r, lk, 720, 960)
		t.Logf("selfie %v", time.Since(t0))
		os.WriteFile("/tmp/preview/"+tc.cc+"-face.jpg", encodeJPEG(s, 90), 0o644)
		if k == 0 {
			os.WriteFile("/tmp/sample-front.jpg", encodeJPEG(f, 90), 0o644)
			os.WriteFile("/tmp/sample-face.jpg", encodeJPEG(s, 90), 0o644)
		}
		if k == 1 || k == 2 {
			t0 = time.Now()
			ph := phonePhoto(renderFront(fs, c, per, lk, r, 1.5, false), 1.37, r, 3000, 2000, coverColour(c), tc.dt == Passport)
			t.Logf("phone %v", time.Since(t0))
			os.WriteFile("/tmp/preview/"+tc.cc+"-phone.jpg", encodeJPEG(ph, 88), 0o644)
		}
	}
	for _, f := range []string{"/tmp/sample-front.jpg", "/tmp/sample-face.jpg", "/tmp/preview/DE-phone.jpg", "/tmp/preview/PL-phone.jpg", "/tmp/preview/LT-ID_CARD-back.jpg", "/tmp/preview/DE-PASSPORT-front.jpg", "/tmp/preview/PL-DRIVER_LICENSE-front.jpg", "/tmp/preview/PL-DRIVER_LICENSE-back.jpg", "/tmp/preview/FR-RESIDENCE_PERMIT-front.jpg", "/tmp/preview/GB-PASSPORT-front.jpg", "/tmp/preview/DE-face.jpg", "/tmp/preview/PL-face.jpg", "/tmp/preview/FR-face.jpg", "/tmp/preview/GB-face.jpg"} {
		b, _ := os.ReadFile(f)
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(strings.TrimSuffix(f, ".jpg")+".view.png", encodePNG(img), 0o644)
	}
	if os.Getenv("PREVIEW") != "gen" {
		return
	}
	t0 := time.Now()
	set := Generate(DefaultOptions())
	t.Logf("Generate(60): %v, %d objects", time.Since(t0), len(set.Objects))
}

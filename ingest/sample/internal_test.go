package sample

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/idbatch/idbatch/pipeline"
)

func TestMRZMatchesICAOExamples(t *testing.T) {
	// ICAO 9303 part 4 (TD3) and part 5 (TD1) specimen: Anna Maria Eriksson, Utopia.
	p := person{
		first: "Anna Maria", last: "Eriksson", female: true, nationality: "UTO",
		dob: date(1974, 8, 12), expires: date(2012, 4, 15),
		docNumber: "L898902C3", personalCode: "ZE184226B",
	}
	got := td3(p, "UTO")
	want := [2]string{
		"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	}
	if got != want {
		t.Errorf("td3 =\n%s\n%s\nwant\n%s\n%s", got[0], got[1], want[0], want[1])
	}
	p.docNumber, p.personalCode = "D23145890", ""
	got1 := td1(p, "UTO", "I")
	want1 := [3]string{
		"I<UTOD231458907<<<<<<<<<<<<<<<",
		"7408122F1204159UTO<<<<<<<<<<<6",
		"ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
	}
	if got1 != want1 {
		t.Errorf("td1 =\n%s\n%s\n%s\nwant\n%s\n%s\n%s", got1[0], got1[1], got1[2], want1[0], want1[1], want1[2])
	}
	if got := mrzName("Žukauskaitė-Müller O'Brien"); got != "ZUKAUSKAITE<MUELLER<OBRIEN" {
		t.Errorf("mrzName = %q", got)
	}
}

func TestNationalCheckDigits(t *testing.T) {
	if got := ltCheck("3330924006"); got != 4 { // 33309240064
		t.Errorf("ltCheck = %d, want 4", got)
	}
	if got := peselCheck("4405140135"); got != 9 { // 44051401359
		t.Errorf("peselCheck = %d, want 9", got)
	}
}

// view applies what an EXIF-aware viewer does for orientation o.
func view(stored *image.RGBA, o int) *image.RGBA {
	w, h := stored.Rect.Dx(), stored.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	if o == 6 || o == 8 {
		out = image.NewRGBA(image.Rect(0, 0, h, w))
	}
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 3:
				dx, dy = w-1-x, h-1-y
			case 6: // rotate 90° clockwise
				dx, dy = h-1-y, x
			case 8: // rotate 90° counter-clockwise
				dx, dy = y, w-1-x
			}
			out.Set(dx, dy, stored.At(x, y))
		}
	}
	return out
}

func TestStoreOrientedRoundTrips(t *testing.T) {
	up := image.NewRGBA(image.Rect(0, 0, 7, 4))
	for i := range up.Pix {
		up.Pix[i] = uint8(i * 7)
	}
	for _, o := range []int{3, 6, 8} {
		if got := view(storeOriented(up, o), o); !bytes.Equal(got.Pix, up.Pix) || got.Rect != up.Rect {
			t.Errorf("orientation %d: viewing the stored pixels does not give the upright image back", o)
		}
	}
}

func TestExifJPEGShowsUpright(t *testing.T) {
	// A document rendered upright, stored with orientation 6 in a JPEG,
	// then decoded and turned the way a viewer would: close to the original.
	k := newKit()
	r := rand.New(rand.NewPCG(1, 2))
	c := countryByCode("LT")
	per := newPerson(r, c, IDCard)
	up := renderFront(k, c, per, newLook(r, per), r, 0.5, true)
	for _, big := range []bool{false, true} {
		body := withExif(encodeJPEG(storeOriented(up, 6), 92), 6, big)
		if body[2] != 0xFF || body[3] != 0xE1 {
			t.Fatal("APP1 is not right after SOI")
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		stored := image.NewRGBA(img.Bounds())
		for y := range img.Bounds().Dy() {
			for x := range img.Bounds().Dx() {
				stored.Set(x, y, img.At(x, y))
			}
		}
		shown := view(stored, 6)
		if shown.Rect != up.Rect {
			t.Fatalf("shown %v, want %v", shown.Rect, up.Rect)
		}
		var diff int
		for i := range up.Pix {
			d := int(up.Pix[i]) - int(shown.Pix[i])
			diff += max(d, -d)
		}
		if mean := float64(diff) / float64(len(up.Pix)); mean > 6 {
			t.Errorf("mean difference %.1f after the round trip", mean)
		}
	}
}

func TestPlan(t *testing.T) {
	for _, n := range []int{1, 2, 9, 16, 40, 60, 200, 1000} {
		jobs := plan(n, Options{N: n, Seed: 5, Broken: true})
		kinds := map[string]int{}
		broken, phone := 0, 0
		for _, j := range jobs {
			if j.defect != "" {
				kinds[j.defect]++
				broken++
			}
			if j.phone {
				phone++
				switch j.defect {
				case "", pipeline.RejectBadCountry, pipeline.RejectBadClientID:
				default:
					t.Errorf("n=%d: a phone photo for a %s record", n, j.defect)
				}
			}
		}
		switch {
		case n >= 16:
			for _, k := range BrokenKinds {
				if kinds[k] == 0 {
					t.Errorf("n=%d: no %s record", n, k)
				}
			}
			if n >= 100 && (broken < n*6/100 || broken > n*10/100) {
				t.Errorf("n=%d: %d broken records, want about 8%%", n, broken)
			}
		default:
			if broken != n/2 {
				t.Errorf("n=%d: %d broken records, want %d", n, broken, n/2)
			}
		}
		if n == 60 && phone != 2 || n == 40 && phone != 1 || n < 20 && phone != 0 {
			t.Errorf("n=%d: %d phone photos", n, phone)
		}
	}
	if (Options{}).count() != DefaultN || (Options{N: 3}).count() != 3 {
		t.Error("Options.N=0 does not mean DefaultN")
	}
	if jobs := plan(60, Options{N: 60, Seed: 5}); func() bool {
		for _, j := range jobs {
			if j.defect != "" {
				return true
			}
		}
		return false
	}() {
		t.Error("broken records without Broken")
	}
}

func TestPersonDates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for range 500 {
		c := pickCountry(r)
		dt := pick(r, c.docTypes)
		p := newPerson(r, c, dt)
		if !p.expires.After(p.issued) || !p.issued.After(p.dob) {
			t.Fatalf("%s %s: born %v issued %v expires %v", c.code, dt, p.dob, p.issued, p.expires)
		}
		if dt == DriverLicense && p.issued.Sub(p.dob) < 17*365*24*time.Hour {
			t.Fatalf("a driving licence issued at %v to someone born %v", p.issued, p.dob)
		}
		if dt == ResidencePermit && p.nationality == c.alpha3 {
			t.Fatalf("a residence permit for a national of %s", c.code)
		}
	}
}

func TestPhonePhoto(t *testing.T) {
	k := newKit()
	r := rand.New(rand.NewPCG(4, 4))
	c := countryByCode("DE")
	per := newPerson(r, c, Passport)
	img := phonePhoto(renderFront(k, c, per, newLook(r, per), r, 1.5, false), 1.37, r, 3000, 2000, coverColour(c), true)
	if img.Rect != image.Rect(0, 0, 3000, 2000) {
		t.Fatalf("phone photo is %v", img.Rect)
	}
	// The document lies in the middle: the centre is the light data page,
	// a corner is the table.
	at := func(x, y int) int {
		i := img.PixOffset(x, y)
		return int(img.Pix[i]) + int(img.Pix[i+1]) + int(img.Pix[i+2])
	}
	if at(1500, 1000) < 450 || at(20, 20) > 600 {
		t.Errorf("centre %d, corner %d: no document on the table", at(1500, 1000), at(20, 20))
	}
	for i := 3; i < len(img.Pix); i += 4 * 997 {
		if img.Pix[i] != 255 {
			t.Fatal("phone photo has transparent pixels")
		}
	}
}

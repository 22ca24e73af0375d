package sample

import (
	"strings"
	"time"
)

// Machine readable zones after ICAO 9303, with real check digits: TD3 (two
// lines of 44, passports) and TD1 (three lines of 30, ID cards and permits).

var translit = strings.NewReplacer(
	"Ä", "AE", "Ö", "OE", "Ü", "UE", "ß", "SS",
	"Ą", "A", "Č", "C", "Ę", "E", "Ė", "E", "Į", "I", "Š", "S", "Ų", "U", "Ū", "U", "Ž", "Z",
	"Ā", "A", "Ē", "E", "Ģ", "G", "Ī", "I", "Ķ", "K", "Ļ", "L", "Ņ", "N", "Õ", "O",
	"Ł", "L", "Ń", "N", "Ó", "O", "Ś", "S", "Ź", "Z", "Ż", "Z", "Ć", "C",
	"É", "E", "È", "E", "Ê", "E", "Ë", "E", "Ç", "C", "Ñ", "N", "Í", "I", "Á", "A", "Ú", "U",
	"À", "A", "Ò", "O", "Ù", "U", "Ì", "I", "Ï", "I", "Ş", "S", "Ğ", "G", "İ", "I",
	" ", "<", "-", "<", "'", "",
)

// mrzName transliterates a name to the MRZ alphabet (A-Z and <).
func mrzName(s string) string {
	s = strings.ToUpper(s)
	s = translit.Replace(s)
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '<' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func mrzCheck(s string) byte {
	w := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		}
		sum += v * w[i%3]
	}
	return byte('0' + sum%10)
}

func padMRZ(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s + strings.Repeat("<", n-len(s))
}

func mrzDate(t time.Time) string { return t.Format("060102") }

func mrzField(s string, n int) string {
	s = strings.NewReplacer("-", "", "/", "", " ", "").Replace(s)
	return padMRZ(mrzName(s), n)
}

func mrzSex(p person) string {
	if p.female {
		return "F"
	}
	return "M"
}

// td3 returns the two MRZ lines of a passport data page.
func td3(p person, issuer string) [2]string {
	l1 := padMRZ("P<"+issuer+mrzName(p.last)+"<<"+mrzName(p.first), 44)
	doc := mrzField(p.docNumber, 9)
	pers := mrzField(p.personalCode, 14)
	persCheck := string(mrzCheck(pers))
	if strings.Trim(pers, "<") == "" {
		persCheck = "<"
	}
	dob, exp := mrzDate(p.dob), mrzDate(p.expires)
	l2 := doc + string(mrzCheck(doc)) + padMRZ(p.nationality, 3) + dob + string(mrzCheck(dob)) + mrzSex(p) +
		exp + string(mrzCheck(exp)) + pers + persCheck
	composite := l2[0:10] + l2[13:20] + l2[21:43]
	return [2]string{l1, l2 + string(mrzCheck(composite))}
}

// td1 returns the three MRZ lines of an ID-1 sized card.
func td1(p person, issuer, code string) [3]string {
	doc := mrzField(p.docNumber, 9)
	opt1 := mrzField(p.personalCode, 15)
	l1 := padMRZ(code, 2) + padMRZ(issuer, 3) + doc + string(mrzCheck(doc)) + opt1
	dob, exp := mrzDate(p.dob), mrzDate(p.expires)
	l2 := dob + string(mrzCheck(dob)) + mrzSex(p) + exp + string(mrzCheck(exp)) + padMRZ(p.nationality, 3) + strings.Repeat("<", 11)
	composite := l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
	l2 += string(mrzCheck(composite))
	l3 := padMRZ(mrzName(p.last)+"<<"+mrzName(p.first), 30)
	return [3]string{l1, l2, l3}
}

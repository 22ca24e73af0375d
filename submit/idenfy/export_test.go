package idenfy

// CheckValidUTF8 is checkValidUTF8 for the external tests.
var CheckValidUTF8 = checkValidUTF8

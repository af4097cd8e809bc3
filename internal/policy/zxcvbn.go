package policy

import (
	"github.com/trustelem/zxcvbn"
)

// MaxZxcvbnScore is zxcvbn's highest score: 4, "very unguessable" (at least 10^10
// guesses). 3 is "safely unguessable" (10^8), 2 "somewhat guessable" (10^6).
const MaxZxcvbnScore = 4

// zxcvbnMaxRunes bounds the part of a password the estimator scores. zxcvbn's
// matching grows faster than quadratically with the length (measured here: 0.06
// ms for 12 code points, 4 ms and 2 MB of garbage for 64, 40 ms for 128, 7 s for
// 1024), and a password may have up to 1024 code points, so an unbounded call
// would let one form submission take seconds of CPU. A password longer than this is scored on its first
// zxcvbnMaxRunes code points: what follows can only add guesses in practice,
// and a prefix this long that scores low is itself the weak part.
const zxcvbnMaxRunes = 64

// strengthScore returns zxcvbn's score (0..4) for password, an NFC string, with
// inputs (fold keys of the user's information) as zxcvbn's user dictionary.
func strengthScore(password string, inputs []string) int {
	n := 0
	for i := range password {
		if n == zxcvbnMaxRunes {
			password = password[:i]
			break
		}
		n++
	}
	return zxcvbn.PasswordStrength(password, inputs).Score
}

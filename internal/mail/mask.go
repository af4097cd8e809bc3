package mail

import (
	"regexp"
	"strings"
)

// MaskAddress hides an address's local part but its first character:
// alice@example.com is a***@example.com. Lists of the outbox and its events
// show masked addresses.
func MaskAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	first := []rune(addr[:at])[0]
	return string(first) + "***" + addr[at:]
}

var addressInText = regexp.MustCompile(`[^\s<>()"',;:]+@[A-Za-z0-9.-]+`)

// MaskAddresses masks every address in a text, such as a relay's error
// message ("No such mailbox: alice@example.com").
func MaskAddresses(s string) string {
	return addressInText.ReplaceAllStringFunc(s, MaskAddress)
}

package policy

import (
	"fmt"
	"math"
	"time"
)

// Error names: Auth0's, the field clients switch on (Auth0.Android's
// isPasswordAlreadyUsed, for one, tests the name PasswordHistoryError).
const (
	NameStrength   = "PasswordStrengthError"
	NameHistory    = "PasswordHistoryError"
	NameDictionary = "PasswordDictionaryError"
	NameNoUserInfo = "PasswordNoUserInfoError"
)

// ErrorCode is the code of every password refusal. Auth0's /lo/reset answers all
// four errors with code "invalid_password" and tells them apart by name (the 400
// bodies recorded in auth0/auth0-custom-password-reset-hosted-page's README, and
// Auth0.Android's and Auth0.swift's tests of PasswordHistoryError). Auth0's signup
// endpoint uses other codes (password_dictionary_error,
// password_no_user_info_error, password_strength_error, which Lock translates);
// this package answers the reset page, so it uses the reset page's.
const ErrorCode = "invalid_password"

// The messages and descriptions of the errors other than PasswordStrengthError,
// from the same recorded bodies.
const (
	msgDictionary  = "Password is too common"
	descDictionary = "Password is not allowed, it might be too common."
	msgNoUserInfo  = "Password contains user information"
	descNoUserInfo = "Password is based on user information"
	msgHistory     = "Password has previously been used"
)

// dictionaryError is Auth0's PasswordDictionaryError:
//
//	{"name":"PasswordDictionaryError","message":"Password is too common","code":"invalid_password",
//	 "description":"Password is not allowed, it might be too common.","statusCode":400}
func dictionaryError() *Error {
	return &Error{Name: NameDictionary, Message: msgDictionary, Code: ErrorCode,
		Description: Description{Text: descDictionary}, StatusCode: 400}
}

// noUserInfoError is Auth0's PasswordNoUserInfoError:
//
//	{"name":"PasswordNoUserInfoError","message":"Password contains user information","code":"invalid_password",
//	 "description":"Password is based on user information","statusCode":400}
func noUserInfoError() *Error {
	return &Error{Name: NameNoUserInfo, Message: msgNoUserInfo, Code: ErrorCode,
		Description: Description{Text: descNoUserInfo}, StatusCode: 400}
}

// HistoryError returns Auth0's PasswordHistoryError for a password that matches
// one of the user's last size passwords (the policy's History), the last time
// since ago. The policy cannot check history itself, because that needs the
// store; the caller compares the new password with the stored hashes (see
// package passhash) and answers this error on a match:
//
//	{"name":"PasswordHistoryError","message":"Password has previously been used","code":"invalid_password",
//	 "description":"You may not reuse any of the last 5 passwords. This password was used a minute ago.","statusCode":400}
//
// since is worded as moment.js's fromNow words it ("a few seconds", "a minute",
// "3 hours", "a day", "2 months", "a year"), the library behind Auth0's wording. A
// since of zero or less (unknown, or a clock that went back) leaves the second
// sentence out. Telling the user when they used the password says nothing an
// attacker can use: only someone holding a valid reset link gets this far.
func HistoryError(size int, since time.Duration) *Error {
	desc := fmt.Sprintf("You may not reuse any of the last %d passwords.", size)
	if since > 0 {
		desc += " This password was used " + humanizeAgo(since) + " ago."
	}
	return &Error{Name: NameHistory, Message: msgHistory, Code: ErrorCode,
		Description: Description{Text: desc}, StatusCode: 400}
}

// humanizeAgo words d as moment.js's relativeTime does in English with its
// default thresholds (44 seconds, 45 minutes, 22 hours, 26 days, 11 months),
// each unit rounded half up and months counted as moment counts them
// (days × 4800 / 146097).
func humanizeAgo(d time.Duration) string {
	round := func(x float64) int { return int(math.Floor(x + 0.5)) }
	secs := d.Seconds()
	days := secs / 86400
	months := days * 4800 / 146097
	s, m, h, dd, mm, y := round(secs), round(secs/60), round(secs/3600), round(days), round(months), round(months/12)
	switch {
	case s <= 44:
		return "a few seconds"
	case m <= 1:
		return "a minute"
	case m < 45:
		return fmt.Sprintf("%d minutes", m)
	case h <= 1:
		return "an hour"
	case h < 22:
		return fmt.Sprintf("%d hours", h)
	case dd <= 1:
		return "a day"
	case dd < 26:
		return fmt.Sprintf("%d days", dd)
	case mm <= 1:
		return "a month"
	case mm < 11:
		return fmt.Sprintf("%d months", mm)
	case y <= 1:
		return "a year"
	}
	return fmt.Sprintf("%d years", y)
}

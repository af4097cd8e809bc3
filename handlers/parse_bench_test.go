package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Request parsing, with baselines in this file so the figures read as ratios:
//
//	BenchmarkReadFieldsJSON        readFields on Auth0's change_password JSON body
//	BenchmarkBaselineJSONDecode    encoding/json decoding the same body into a
//	                               struct (DisallowUnknownFields), as a plain handler would
//	BenchmarkReadFieldsForm        readFields on the same fields as a form
//	BenchmarkBaselineParseForm     net/http's ParseForm on the same body
//
//	go test -run '^$' -bench . -benchmem ./handlers

const (
	benchJSON = `{"client_id":"demo-app","email":"alice@example.com","connection":"Username-Password-Authentication"}`
	benchForm = `client_id=demo-app&email=alice%40example.com&connection=Username-Password-Authentication`
)

func benchRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/dbconnections/change_password", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return r
}

func BenchmarkReadFieldsJSON(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		fields, err := readFields(benchRequest(benchJSON, "application/json"), maxRequestBody, changePasswordFields)
		if err != nil || fields["email"] != "alice@example.com" {
			b.Fatal(fields, err)
		}
	}
}

func BenchmarkBaselineJSONDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r := benchRequest(benchJSON, "application/json")
		var req struct {
			ClientID     string `json:"client_id"`
			Email        string `json:"email"`
			Connection   string `json:"connection"`
			Organization string `json:"organization"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.Email != "alice@example.com" {
			b.Fatal(req, err)
		}
	}
}

func BenchmarkReadFieldsForm(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		fields, err := readFields(benchRequest(benchForm, "application/x-www-form-urlencoded"), maxRequestBody, changePasswordFields)
		if err != nil || fields["email"] != "alice@example.com" {
			b.Fatal(fields, err)
		}
	}
}

func BenchmarkBaselineParseForm(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r := benchRequest(benchForm, "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil || r.PostForm.Get("email") != "alice@example.com" {
			b.Fatal(url.Values(r.PostForm), err)
		}
	}
}

package templates

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// blockTags end a line of text when converting HTML to plain text.
var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "tr": true, "li": true, "table": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
}

// TextFromHTML derives the text/plain part of an email from its HTML, for templates
// (like Auth0's, which are HTML only) that have no text part of their own. Links
// keep their address: "Choose a new password (https://...)".
func TextFromHTML(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	var href string
	skip := 0 // inside <head>, <style>, <script> or <title>
	for {
		switch z.Next() {
		case html.ErrorToken:
			return tidyText(b.String())
		case html.TextToken:
			if skip == 0 {
				b.WriteString(collapseSpace(string(z.Text())))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case tag == "head" || tag == "style" || tag == "script" || tag == "title":
				skip++
			case tag == "a":
				href = attr(z, "href")
			case blockTags[tag]:
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case tag == "head" || tag == "style" || tag == "script" || tag == "title":
				skip = max(skip-1, 0)
			case tag == "a" && href != "":
				if !strings.Contains(b.String(), href) {
					b.WriteString(" (" + href + ") ")
				}
				href = ""
			case blockTags[tag]:
				b.WriteByte('\n')
			}
		}
	}
}

// collapseSpace turns every run of white space into one space, as a browser does.
func collapseSpace(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

func attr(z *html.Tokenizer, want string) string {
	for {
		key, val, more := z.TagAttr()
		if string(key) == want {
			return string(val)
		}
		if !more {
			return ""
		}
	}
}

// tidyText trims each line and keeps at most one blank line between paragraphs.
func tidyText(s string) string {
	var out []string
	blank := true
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, line)
		blank = false
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}

package templates

// PageText is what a page says for an error: its title and its text, looked up
// by the error's code, so that the services carry no page text (and the texts are
// translated in the catalogs, as "error.<code>.title" and "error.<code>.text").
type PageText struct {
	Title, Text string
}

// Problem returns the page text for the error code, and whether there is one.
func (l *Lang) Problem(code string) (PageText, bool) {
	if !l.Has("error." + code + ".title") {
		return PageText{}, false
	}
	return PageText{Title: l.T("error." + code + ".title"), Text: l.T("error." + code + ".text")}, true
}

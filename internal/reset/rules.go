package reset

import (
	"github.com/caddy-password-reset/caddy-password-reset/internal/policy"
	"github.com/caddy-password-reset/caddy-password-reset/templates"
)

// RuleLines lists a policy's rules as a page shows them, unmarked. The reset page
// and the admin dashboard list the same lines.
func RuleLines(pol policy.Policy) []templates.RuleLine { return linesOf(pol.Rules()) }

// linesOf words rules for a page's list, with their states when they come from
// a check.
func linesOf(rules []policy.Rule) []templates.RuleLine {
	var lines []templates.RuleLine
	for _, rule := range rules {
		line := templates.RuleLine{Code: rule.Code, Text: rule.ListText(), Format: rule.Format, Count: ruleCount(rule),
			State: ruleState(rule), Live: rule.Live()}
		line.Items = linesOf(rule.Items)
		lines = append(lines, line)
	}
	return lines
}

// ruleCount is the number the page's script needs to check rule: the first
// format argument of the rules it checks (a length, how many classes, how many
// identical characters); the minimum of 1 of the non-empty rule has none.
func ruleCount(rule policy.Rule) int {
	if rule.Code == policy.CodeNonEmpty {
		return 1
	}
	if !rule.Live() || len(rule.Format) == 0 {
		return 0
	}
	n, _ := rule.Format[0].(int)
	return n
}

func ruleState(rule policy.Rule) string {
	switch {
	case !rule.Checked():
		return ""
	case rule.Verified:
		return templates.RuleMet
	}
	return templates.RuleUnmet
}

// MarkedRules marks a policy's rules for a refused password. Evaluate decides
// exactly the rules that depend on the password alone; the strength score, the
// personal data and the history need the user's profile and previous
// passwords, so their states come from the refusal: a rule the check did not
// reach is left unmarked.
func MarkedRules(pol policy.Policy, password string, user policy.UserInfo, refusal *policy.Error) []templates.RuleLine {
	if password == "" {
		return RuleLines(pol) // nothing was typed: nothing to mark
	}
	lines := linesOf(pol.Evaluate(password, user))
	decided := map[string]string{policy.CodeStrengthScore: "", policy.CodeNoPersonalInfo: "", policy.CodeNotReused: ""}
	if refusal != nil {
		switch refusal.Name {
		case policy.NameStrength:
			for _, r := range refusal.Description.Rules {
				if r.Code == policy.CodeStrengthScore {
					decided[r.Code] = ruleState(r)
				}
			}
		case policy.NameNoUserInfo:
			decided[policy.CodeNoPersonalInfo] = templates.RuleUnmet
		case policy.NameHistory:
			// The history is checked after every other rule passed.
			decided[policy.CodeStrengthScore], decided[policy.CodeNoPersonalInfo] = templates.RuleMet, templates.RuleMet
			decided[policy.CodeNotReused] = templates.RuleUnmet
		}
	}
	for i, l := range lines {
		if state, ok := decided[l.Code]; ok {
			lines[i].State = state
		}
	}
	return lines
}

// PolicyError is a password policy's refusal, which marshals as Auth0's JSON
// body: the HTTP side writes it as is, without reaching into the policy.
type PolicyError = policy.Error

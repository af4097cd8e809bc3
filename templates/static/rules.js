// The reset page's password rules, marked met or not as the user types, as
// Auth0's page does. It checks the rules that depend on the password alone, with
// the server's own definitions (policy/policy.go): length in code points of the
// NFC form, sheriff's ASCII character classes, identical code points in a row.
// The dictionary, personal data, history and strength score stay the server's.
// The rules' numbers come from data- attributes; the page works without this
// script, and the server marks the rules after a refused submit.
(function () {
  "use strict";

  var rules = document.getElementById("rules");
  var input = document.getElementById("newPassword");
  if (!rules || !input) {
    return;
  }
  var status = document.getElementById("rules-status");
  var words = { met: rules.dataset.metText, unmet: rules.dataset.unmetText };
  var special = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

  // facts gathers what the rules need in one pass over the code points.
  function facts(password) {
    var f = { length: 0, lower: false, upper: false, digit: false, special: false, maxRun: 0 };
    var prev = null;
    var run = 0;
    Array.from(password.normalize("NFC")).forEach(function (c) {
      f.length++;
      if (c >= "a" && c <= "z") {
        f.lower = true;
      } else if (c >= "A" && c <= "Z") {
        f.upper = true;
      } else if (c >= "0" && c <= "9") {
        f.digit = true;
      } else if (special.indexOf(c) >= 0) {
        f.special = true;
      }
      run = c === prev ? run + 1 : 1;
      prev = c;
      f.maxRun = Math.max(f.maxRun, run);
    });
    return f;
  }

  // checks decide each rule the script knows, by the policy's rule code. met is
  // how many of a composite rule's items are met, of total.
  var checks = {
    nonEmpty: function (f) { return f.length >= 1; },
    lengthAtLeast: function (f, n) { return f.length >= n; },
    maxLength: function (f, n) { return f.length <= n; },
    identicalChars: function (f, n) { return f.maxRun <= n; },
    lowerCase: function (f) { return f.lower; },
    upperCase: function (f) { return f.upper; },
    numbers: function (f) { return f.digit; },
    specialCharacters: function (f) { return f.special; },
    containsAtLeast: function (f, n, met) { return met >= n; },
    shouldContain: function (f, n, met, total) { return met === total; }
  };

  function children(li) {
    var list = li.querySelector(":scope > ul");
    return list ? Array.from(list.querySelectorAll(":scope > li.rule")) : [];
  }

  // mark sets a rule's state ("met", "unmet" or "" for none) and reports
  // whether it changed.
  function mark(li, state) {
    var before = li.classList.contains("met") ? "met" : li.classList.contains("unmet") ? "unmet" : "";
    li.classList.remove("met", "unmet");
    if (state) {
      li.classList.add(state);
    }
    li.querySelector(":scope > .rule-state").textContent = state ? ": " + words[state] : "";
    return before !== state;
  }

  // evaluate marks li and its items for f; it returns whether li is met, or
  // null for a rule only the server checks, which it unmarks: its mark was for
  // the password sent before.
  function evaluate(li, f, changed) {
    var items = children(li);
    var met = 0;
    items.forEach(function (item) {
      if (evaluate(item, f, changed)) {
        met++;
      }
    });
    var check = checks[li.dataset.rule];
    if (!check) {
      mark(li, "");
      return null;
    }
    var ok = f !== null && check(f, Number(li.dataset.count || 0), met, items.length);
    var state = f === null ? "" : ok ? "met" : "unmet";
    if (mark(li, state) && state) {
      changed.push(li.querySelector(":scope > .rule-text").textContent + ": " + words[state]);
    }
    return ok;
  }

  function update() {
    var f = input.value === "" ? null : facts(input.value);
    var changed = [];
    rules.querySelectorAll(":scope > ul > li.rule").forEach(function (li) {
      evaluate(li, f, changed);
    });
    // Only what changed is announced, so a screen reader is not read the
    // whole list at each key.
    if (status && changed.length > 0) {
      status.textContent = changed.join(". ") + ".";
    }
  }

  input.addEventListener("input", update);
})();

"""The central issuing service (客服前台): the front desk's rules, its data, and the loop to
the gates. Domain rules are in ``../shared/domain-rules.md``; design notes in docs/central.md."""

"""Security rules and mechanisms: whole-string schema patterns, stream URL
syntax, which hosts camservice may be made to connect to, redaction of
credentials, transport security (TLS) and who may connect."""

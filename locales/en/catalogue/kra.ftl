# KRA: service names and the words that find them.

svc-kra-pin-check = Check a KRA PIN
    .keywords = kra pin tax taxpayer
svc-kra-nil-return = File a nil return
    .keywords = kra return tax nil file
svc-kra-nil-return-info = Log in to itax.kra.go.ke with your PIN: Returns, then Nil Return. Due 30 June. Dial {$service_dial}

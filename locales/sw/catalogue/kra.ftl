# KRA: majina ya huduma na maneno ya kuzitafuta.

svc-kra-pin-check = Angalia PIN ya KRA
    .keywords = kra pin kodi ushuru mlipakodi
svc-kra-nil-return = Ritani ya sifuri (nil return)
    .keywords = kra ritani kodi ushuru nil sifuri
svc-kra-nil-return-info = Ingia itax.kra.go.ke kwa PIN yako: Returns, kisha Nil Return. Mwisho 30 Juni. Piga {$service_dial}

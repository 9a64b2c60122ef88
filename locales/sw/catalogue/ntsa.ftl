# NTSA: majina ya huduma na maneno ya kuzitafuta.

svc-licence-renewal = Huisha leseni ya udereva
    .keywords = leseni udereva dereva gari kuhuisha
svc-smart-dl = Leseni ya kisasa (smart DL)
    .keywords = leseni udereva smart kadi dereva
svc-smart-dl-info = Omba kwenye ecitizen.go.ke (NTSA), lipa KES 3,050, chukua kadi Huduma Centre. Piga {$service_dial}

svc-driving-test-booking = Miadi ya mtihani wa udereva
    .keywords = mtihani udereva leseni miadi driving test booking

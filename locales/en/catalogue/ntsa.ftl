# NTSA: service names and the words that find them.

svc-licence-renewal = Renew driving licence
    .keywords = licence driving driver renew car
svc-smart-dl = Smart driving licence
    .keywords = licence driving smart card driver
svc-smart-dl-info = Apply on ecitizen.go.ke (NTSA), pay KES 3,050, collect the card at a Huduma Centre. Dial {$service_dial}

svc-driving-test-booking = Book a driving test
    .keywords = driving test booking appointment licence learner

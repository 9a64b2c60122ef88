# Department of Immigration Services (Immigration and Citizen Services): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

svc-passport-apply = Apply for a passport
    .keywords = passport apply travel immigration new ecitizen
svc-passport-apply-info = Apply on ecitizen.go.ke (Immigration). 34 pages: KES 4,550. Take your ID and birth cert to Nyayo House. Dial {$service_dial}
svc-passport-replace = Replace a passport
    .keywords = passport lost damaged stolen replace replacement
svc-passport-replace-info = Lost or damaged: get a police abstract, then apply on ecitizen.go.ke. Bring ID and passport copy. Dial {$service_dial}
svc-passport-collect = Collect a passport
    .keywords = passport collect collection ready pick
svc-passport-collect-info = When the SMS says it is ready, collect it in person where you chose. Bring your ID and old passport. Dial {$service_dial}
svc-visa-eta = Visa and eTA for visitors
    .keywords = visa eta visitor tourist entry travel permit
svc-visa-eta-info = Visitors apply for an eTA on etakenya.go.ke at least 3 days before travel. Fee USD 30. Dial {$service_dial}
svc-work-permit = Work permit (foreigners)
    .keywords = work permit foreigner employment expatriate class
svc-work-permit-info = The employer applies on ecitizen.go.ke (Immigration), usually Class D: passport, contract, CV, photo. Dial {$service_dial}

svc-passport-biometrics = Passport biometrics appointment
    .keywords = passport biometrics fingerprints appointment booking nyayo

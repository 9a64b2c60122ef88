# National Registration Bureau (national ID cards): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

agency-nrb = National Registration (IDs)
nrb-enter-id = Enter the number of the lost ID card:
nrb-id-invalid = An ID number is 7 or 8 digits. Try again.

svc-id-application = Apply for a national ID
    .keywords = national id card apply first registration maisha
svc-id-application-info = At 18, go to a registration office or Huduma Centre with birth certificate and a parent's ID. Free. Dial {$service_dial}
svc-id-replacement = Replace a lost ID card
    .keywords = national id lost replace replacement duplicate
svc-id-collection = Collect your ID card
    .keywords = national id collect collection ready card
svc-id-collection-info = You get an SMS when your ID is ready. Collect it where you applied, with your waiting card. Dial {$service_dial}

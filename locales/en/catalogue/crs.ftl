# Civil Registration Services (births, deaths): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

agency-crs = Civil Registration (CRS)
crs-enter-entry = Enter the birth entry number (on the birth notification):
crs-entry-invalid = An entry number is 4 to 10 digits. Try again.

svc-birth-certificate = Birth certificate
    .keywords = birth certificate child baby registration born
svc-birth-late-registration = Late birth registration
    .keywords = birth late registration certificate child delayed
svc-birth-late-registration-info = Not registered in 6 months: go to a registration office with clinic card, parents' IDs, chief's letter. Dial {$service_dial}
svc-death-certificate = Death certificate
    .keywords = death certificate deceased burial died
svc-death-certificate-info = Apply on ecitizen.go.ke (Civil Registration) with the death notification and the deceased's ID. KES 50. Dial {$service_dial}
svc-marriage-certificate = Marriage certificate
    .keywords = marriage certificate wedding married civil register
svc-marriage-certificate-info = Give notice on ecitizen.go.ke (Marriages) 21 days before. Come to the Registrar with IDs, 2 witnesses. Dial {$service_dial}

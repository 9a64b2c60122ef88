# National Police Service (NPS) and DCI: service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

agency-police = National Police Service
police-enter-id = Enter your national ID number:
police-id-invalid = An ID number is 7 or 8 digits. Try again.

svc-good-conduct = Certificate of good conduct
    .keywords = good conduct certificate police clearance dci
svc-police-abstract = Police abstract
    .keywords = police abstract lost report ob
svc-police-abstract-info = Report the loss at any police station to get an OB number, then get the abstract on ecitizen.go.ke. Dial {$service_dial}
svc-report-crime = Report a crime
    .keywords = report crime police emergency dci tip
svc-report-crime-info = Emergency: call 999, 112 or 911, free. Tip off the DCI in confidence: 0800 722 203 (Fichua kwa DCI). Dial {$service_dial}

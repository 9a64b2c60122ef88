# Nairobi City County: service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

agency-nairobi = Nairobi City County
nairobi-enter-id = Enter the business owner's national ID number:
nairobi-id-invalid = An ID number is 7 or 8 digits. Try again.

svc-nairobi-business-permit = Business permit (Nairobi)
    .keywords = business permit licence county nairobi sbp
svc-nairobi-parking = Parking (Nairobi)
    .keywords = parking car fee county nairobi cbd
svc-nairobi-parking-info = CBD parking: KES 300 a day for a car. Pay on nairobiservices.go.ke with the number plate. Dial {$service_dial}
svc-nairobi-food-handler = Food handler certificate
    .keywords = food handler medical certificate hotel county
svc-nairobi-food-handler-info = Get checked at a county health centre, pay on nairobiservices.go.ke. Bring your ID. Valid 6 months. Dial {$service_dial}

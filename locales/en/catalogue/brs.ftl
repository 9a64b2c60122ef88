# Business Registration Service (BRS): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

brs-enter-name = Type the business name (3 to 16 letters):
brs-name-invalid = Letters and digits only, 3 to 16. Try again.
brs-enter-id = Enter the owner's national ID number:
brs-id-invalid = An ID number is 7 or 8 digits. Try again.

svc-business-name-search = Business name search
    .keywords = business name search check brs reserve
svc-business-name-register = Register a business name
    .keywords = business name register registration brs sole
svc-company-registration = Register a company
    .keywords = company register registration limited private brs
svc-company-registration-info = Search the name, then register on brs.go.ke with the directors' IDs and KRA PINs. Fee KES 10,650. Dial {$service_dial}
svc-company-search = Company search (CR12)
    .keywords = company search cr12 directors official brs
svc-company-search-info = Request an official search (CR12) on brs.go.ke with the company number. Fee KES 650. Dial {$service_dial}
svc-annual-returns = Company annual returns
    .keywords = company annual returns file brs yearly
svc-annual-returns-info = Every company files annual returns on brs.go.ke after each anniversary. Late filing is fined. Dial {$service_dial}

# The catalogue of government services: shared words. Service names are in
# locales/en/catalogue/<agency>.ftl. GSM-7 characters only.

home-search = Search services
home-browse = All services

catalogue-categories = Choose a kind of service:
catalogue-search = Type a service name (e.g. licence, land, passport):
catalogue-results = Services found:
catalogue-none = No service matches "{$query}".
catalogue-search-again = Search again
catalogue-browse = Services by kind

catalogue-account-invalid = That number is not valid. Try again.
catalogue-account-unknown = That number was not found.
catalogue-number-invalid = That number is not valid. Try again.
catalogue-number-unknown = That number was not found.
catalogue-pay-confirm = {$service_name}: KES {$amount}
catalogue-pay-done = Request {$reference} received. You will get an M-Pesa prompt: enter your PIN to pay KES {$amount}. Next time dial {$service_dial}
catalogue-fee-confirm = {$service_name}
    Fee: KES {$fee}
catalogue-fee-done = Request {$reference} received. You will get an M-Pesa prompt: enter your PIN to pay KES {$fee}. Next time dial {$service_dial}
catalogue-enter-id = Enter your national ID number:
catalogue-id-invalid = An ID is 7 or 8 digits. Try again.
catalogue-slot-pick = {$service_name}: pick a day and time
catalogue-slot-none = No slot is free now. Try again tomorrow.
catalogue-slot-done = Appointment {$reference}: {$slot} is booked. Come 15 minutes early with your ID. Next time dial {$service_dial}

cat-land = Land
cat-transport = Transport
cat-tax = Tax
cat-business = Business
cat-health = Health
cat-education = Education
cat-immigration = Immigration
cat-family = Family: births, deaths, marriages
cat-work = Work and social security
cat-justice = Courts and justice
cat-county = County

# e-Citizen *384# — English. GSM-7 characters only: no curly quotes.

language-title = Chagua lugha / Choose language
language-sw = Kiswahili
language-en = English

home-title = Welcome to e-Citizen
home-land = Pay land rates
home-licence = Driving licence
home-kra = KRA PIN
home-status = Application status
home-agencies = Government agencies
home-language = Language

pay-mpesa = Pay with M-Pesa
cancel = Cancel
cancelled = Cancelled. Thank you for using e-Citizen.

land-enter-parcel = Enter the land parcel number (e.g. KAJIADO/1234):
land-parcel-invalid = That parcel number is not valid.
land-parcel-unknown = That parcel was not found.
land-confirm = {$parcel}, {$owner}
    Rates due: KES {$amount}
land-submitted = Request {$reference} received. You will get an M-Pesa prompt for KES {$amount}. Enter your M-Pesa PIN to pay.

licence-enter-number = Enter your driving licence number:
licence-invalid = That licence number is not valid.
licence-unknown = That licence was not found.
licence-years = {$holder}, licence expires {$expiry}. Renew for how long?
licence-one-year = 1 year
licence-three-years = 3 years
licence-confirm = Licence {$licence}: { $years ->
        [one] {$years} year
       *[other] {$years} years
    }. Fee: KES {$fee}
licence-submitted = Request {$reference} received. You will receive an M-Pesa prompt for KES {$fee}. Enter your M-Pesa PIN to pay.

kra-enter-pin = Enter your KRA PIN (e.g. A123456789B):
kra-pin-invalid = That KRA PIN is not valid.
kra-pin-unknown = That PIN is not registered.
kra-result = PIN {$pin}: {$taxpayer}. Status: { $pin_status ->
        [active] active
       *[other] inactive
    }.

status-pick = Choose a request:
status-enter-other = Enter another reference
status-enter-ref = Enter your reference number (e.g. NJ-7K2QX):
status-ref-invalid = That reference number is not valid.
status-unknown = That request was not found.
status-result = Request {$reference} ({ $service ->
        [land-rates] land rates
        [licence-renewal] driving licence
       *[other] service
    }): { $status ->
        [received] received
        [payment_pending] awaiting payment
        [payment_failed] payment failed
        [paid] paid
        [fulfilled] completed
        [rejected] rejected
       *[other] in progress
    }.

agencies-title = Government agencies:
agency-kra = Kenya Revenue Authority
agency-ntsa = NTSA (road safety)
agency-lands = Ministry of Lands
agency-immigration = Immigration and Citizen Services
agency-sha = Social Health Authority (SHA)
agency-nssf = NSSF (pensions)
agency-helb = Higher Education Loans (HELB)
agency-brs = Business Registration (BRS)
agency-kpa = Kenya Ports Authority
agency-ca = Communications Authority
agency-ncpb = Cereals and Produce Board
agency-nema = Environment Authority (NEMA)
agency-knls = National Library Service
agency-kaa = Kenya Airports Authority
agency-tsc = Teachers Service Commission
agency-judiciary = The Judiciary
agency-info = { $agency ->
        [kra] KRA
        [ntsa] NTSA
        [lands] Ministry of Lands
        [immig] Immigration
        [sha] SHA
        [nssf] NSSF
        [helb] HELB
        [brs] BRS
        [kpa] KPA
        [ca] Communications Authority
        [ncpb] NCPB
        [nema] NEMA
        [knls] National Library
        [kaa] KAA
        [tsc] TSC
       *[court] Judiciary
    } services are on e-Citizen. Dial *384# any time.

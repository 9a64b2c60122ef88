# Ministry of Lands: service names and the words that find them (.keywords).

svc-land-rates = Pay land rates
    .keywords = land plot rates parcel property
svc-land-search = Land search
    .keywords = land plot search title parcel
svc-land-title-transfer = Transfer a land title
    .keywords = land title transfer ownership sell plot
svc-land-title-transfer-info = Apply on ardhisasa.lands.go.ke with your KRA PIN and ID card. Dial {$service_dial}

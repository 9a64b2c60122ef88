# Wizara ya Ardhi: majina ya huduma na maneno ya kuzitafuta (.keywords).

svc-land-rates = Lipa ushuru wa ardhi
    .keywords = ardhi kiwanja shamba ushuru kodi rates kipande
svc-land-search = Upekuzi wa ardhi (search)
    .keywords = ardhi kiwanja shamba upekuzi hati kipande
svc-land-title-transfer = Kuhamisha hati ya ardhi
    .keywords = ardhi hati umiliki kuhamisha kuuza kiwanja
svc-land-title-transfer-info = Omba kwenye ardhisasa.lands.go.ke ukiwa na PIN ya KRA na kitambulisho. Piga {$service_dial}

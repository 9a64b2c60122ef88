# e-Citizen *384# — Kiswahili. Herufi za GSM-7 pekee: hakuna alama za nukuu zilizopinda.

language-title = Chagua lugha / Choose language
language-sw = Kiswahili
language-en = English

home-title = Karibu e-Citizen
home-land = Lipa ushuru wa ardhi
home-licence = Leseni ya udereva
home-kra = PIN ya KRA
home-status = Hali ya ombi
home-agencies = Mashirika ya serikali
home-language = Lugha

pay-mpesa = Lipa kwa M-Pesa
cancel = Ghairi
cancelled = Umeghairi. Asante kwa kutumia e-Citizen.

land-enter-parcel = Weka nambari ya kipande (mfano KAJIADO/1234):
land-parcel-invalid = Nambari ya kipande si sahihi.
land-parcel-unknown = Kipande hicho hakijapatikana.
land-confirm = {$parcel}, {$owner}
    Ushuru: KES {$amount}
land-submitted = Ombi {$reference} limepokelewa. Utapokea ujumbe wa M-Pesa kwenye simu yako: weka PIN yako ya M-Pesa kulipa KES {$amount}.

licence-enter-number = Weka nambari ya leseni ya udereva:
licence-invalid = Nambari ya leseni si sahihi.
licence-unknown = Leseni hiyo haijapatikana.
licence-years = {$holder}, leseni inaisha {$expiry}. Huisha kwa muda gani?
licence-one-year = Mwaka 1
licence-three-years = Miaka 3
licence-confirm = Leseni {$licence}: { $years ->
        [one] mwaka {$years}
       *[other] miaka {$years}
    }. Ada: KES {$fee}
licence-submitted = Ombi {$reference} limepokelewa. Utapokea ujumbe wa M-Pesa kwenye simu yako: weka PIN yako ya M-Pesa kulipa KES {$fee}.

kra-enter-pin = Weka PIN ya KRA (mfano A123456789B):
kra-pin-invalid = PIN ya KRA si sahihi.
kra-pin-unknown = PIN hiyo haijasajiliwa.
kra-result = PIN {$pin}: {$taxpayer}. Hali: { $pin_status ->
        [active] inatumika
       *[other] haitumiki
    }.

status-pick = Chagua ombi:
status-enter-other = Weka nambari nyingine ya ombi
status-enter-ref = Weka nambari ya kumbukumbu (mfano NJ-7K2QX):
status-ref-invalid = Nambari ya kumbukumbu si sahihi.
status-unknown = Ombi hilo halijapatikana.
status-result = Ombi {$reference} ({ $service ->
        [land-rates] ushuru wa ardhi
        [licence-renewal] leseni ya udereva
       *[other] huduma
    }): { $status ->
        [received] limepokelewa
        [payment_pending] linasubiri malipo
        [payment_failed] malipo hayakufanikiwa
        [paid] limelipwa
        [fulfilled] limekamilika
        [rejected] limekataliwa
       *[other] linashughulikiwa
    }.

agencies-title = Mashirika ya serikali:
agency-kra = Mamlaka ya Mapato (KRA)
agency-ntsa = Usalama Barabarani (NTSA)
agency-lands = Wizara ya Ardhi
agency-immigration = Uhamiaji na Huduma kwa Raia
agency-sha = Mamlaka ya Afya ya Jamii (SHA)
agency-nssf = NSSF (malipo ya uzeeni)
agency-helb = Mikopo ya Elimu ya Juu (HELB)
agency-brs = Usajili wa Biashara (BRS)
agency-kpa = Mamlaka ya Bandari (KPA)
agency-ca = Mamlaka ya Mawasiliano
agency-ncpb = Bodi ya Nafaka na Mazao (NCPB)
agency-nema = Mamlaka ya Mazingira (NEMA)
agency-knls = Huduma za Kitaifa za Maktaba
agency-kaa = Mamlaka ya Viwanja vya Ndege (KAA)
agency-tsc = Tume ya Utumishi wa Walimu (TSC)
agency-judiciary = Mahakama
agency-info = Huduma za { $agency ->
        [kra] KRA
        [ntsa] NTSA
        [lands] Wizara ya Ardhi
        [immig] Uhamiaji
        [sha] SHA
        [nssf] NSSF
        [helb] HELB
        [brs] BRS
        [kpa] KPA
        [ca] Mamlaka ya Mawasiliano
        [ncpb] NCPB
        [nema] NEMA
        [knls] Maktaba ya Kenya
        [kaa] KAA
        [tsc] TSC
       *[court] Mahakama
    } zinapatikana kwenye e-Citizen. Piga *384# wakati wowote.

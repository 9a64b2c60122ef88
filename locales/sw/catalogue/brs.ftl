# Usajili wa biashara (BRS) (Business Registration Service (BRS)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

brs-enter-name = Andika jina la biashara (herufi 3 hadi 16):
brs-name-invalid = Herufi na tarakimu tu, 3 hadi 16. Jaribu tena.
brs-enter-id = Weka nambari ya kitambulisho (ID) cha mmiliki:
brs-id-invalid = Nambari ya ID ni tarakimu 7 au 8. Jaribu tena.

svc-business-name-search = Tafuta jina la biashara
    .keywords = biashara jina tafuta search upekuzi brs
svc-business-name-register = Sajili jina la biashara
    .keywords = biashara jina sajili usajili register brs
svc-company-registration = Sajili kampuni
    .keywords = kampuni sajili usajili company limited brs
svc-company-registration-info = Tafuta jina, kisha sajili brs.go.ke ukiwa na ID na PIN za KRA za wakurugenzi. Ada KES 10,650. Piga {$service_dial}
svc-company-search = Upekuzi wa kampuni (CR12)
    .keywords = kampuni upekuzi cr12 wakurugenzi company search
svc-company-search-info = Omba upekuzi rasmi (CR12) kwenye brs.go.ke kwa nambari ya kampuni. Ada KES 650. Piga {$service_dial}
svc-annual-returns = Ritani ya mwaka ya kampuni
    .keywords = kampuni ritani mwaka returns annual brs
svc-annual-returns-info = Kila kampuni huwasilisha ritani ya mwaka brs.go.ke baada ya kutimiza mwaka. Kuchelewa kuna faini. Piga {$service_dial}

# Usajili wa Watu (vitambulisho) (National Registration Bureau (national ID cards)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

agency-nrb = Usajili wa Watu (vitambulisho)
nrb-enter-id = Weka nambari ya kitambulisho kilichopotea:
nrb-id-invalid = Nambari ya ID ni tarakimu 7 au 8. Jaribu tena.

svc-id-application = Omba kitambulisho (ID)
    .keywords = kitambulisho id kipande omba usajili maisha namba
svc-id-application-info = Ukifika miaka 18, nenda ofisi ya usajili au Huduma Centre na cheti cha kuzaliwa na ID ya mzazi. Bure. Piga {$service_dial}
svc-id-replacement = Kitambulisho kilichopotea (ID)
    .keywords = kitambulisho id kipande kilichopotea kupoteza badilisha duplicate
svc-id-collection = Kuchukua kitambulisho
    .keywords = kitambulisho id kipande chukua tayari kuchukua collection
svc-id-collection-info = Utapata SMS kitambulisho kikiwa tayari. Kichukue ulipoomba, ukiwa na kadi ya kusubiri (waiting card). Piga {$service_dial}

# Kaunti ya Jiji la Nairobi (Nairobi City County): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

agency-nairobi = Kaunti ya Jiji la Nairobi
nairobi-enter-id = Weka nambari ya kitambulisho (ID) cha mwenye biashara:
nairobi-id-invalid = Nambari ya ID ni tarakimu 7 au 8. Jaribu tena.

svc-nairobi-business-permit = Kibali cha biashara (Nairobi)
    .keywords = kibali biashara leseni permit kaunti nairobi
svc-nairobi-parking = Maegesho ya magari Nairobi
    .keywords = maegesho parking gari kaunti nairobi ada
svc-nairobi-parking-info = Maegesho mjini (CBD): KES 300 kwa siku kwa gari. Lipa nairobiservices.go.ke kwa nambari ya gari. Piga {$service_dial}
svc-nairobi-food-handler = Cheti cha afya (chakula)
    .keywords = cheti afya chakula hoteli medical kaunti
svc-nairobi-food-handler-info = Pimwa afya kituo cha afya cha kaunti, lipa nairobiservices.go.ke. Leta ID. Cheti hudumu miezi 6. Piga {$service_dial}

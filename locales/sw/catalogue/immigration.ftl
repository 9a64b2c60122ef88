# Idara ya Uhamiaji (Department of Immigration Services (Immigration and Citizen Services)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

svc-passport-apply = Omba pasipoti
    .keywords = pasipoti passport safari omba uhamiaji ecitizen
svc-passport-apply-info = Omba ecitizen.go.ke (Uhamiaji). Kurasa 34: KES 4,550. Peleka ID na cheti cha kuzaliwa Nyayo House. Piga {$service_dial}
svc-passport-replace = Badilisha pasipoti
    .keywords = pasipoti passport iliyopotea imeharibika mpya badilisha
svc-passport-replace-info = Ikipotea au kuharibika: pata abstract ya polisi, kisha omba ecitizen.go.ke. Leta ID na nakala. Piga {$service_dial}
svc-passport-collect = Kuchukua pasipoti
    .keywords = pasipoti passport chukua tayari kuchukua collection
svc-passport-collect-info = Ukipata SMS kuwa iko tayari, ichukue mwenyewe kwenye ofisi uliyochagua. Leta ID na pasipoti ya zamani. Piga {$service_dial}
svc-visa-eta = Viza na eTA ya wageni
    .keywords = viza visa eta wageni mgeni utalii safari
svc-visa-eta-info = Wageni huomba eTA kwenye etakenya.go.ke angalau siku 3 kabla ya safari. Ada USD 30. Piga {$service_dial}
svc-work-permit = Kibali cha kazi (wageni)
    .keywords = kibali kazi wageni permit ajira mgeni
svc-work-permit-info = Mwajiri huomba ecitizen.go.ke (Uhamiaji), kwa kawaida Daraja D. Pasipoti, mkataba, CV na picha. Piga {$service_dial}

svc-passport-biometrics = Miadi ya alama za vidole
    .keywords = pasipoti miadi alama vidole biometrics nyayo house appointment

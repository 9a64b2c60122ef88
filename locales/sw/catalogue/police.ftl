# Huduma ya Taifa ya Polisi (National Police Service (NPS) and DCI): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

agency-police = Huduma ya Taifa ya Polisi
police-enter-id = Weka nambari yako ya kitambulisho (ID):
police-id-invalid = Nambari ya ID ni tarakimu 7 au 8. Jaribu tena.

svc-good-conduct = Cheti cha maadili mema
    .keywords = cheti maadili mema polisi dci conduct kazi
svc-police-abstract = Abstract ya polisi
    .keywords = polisi abstract kupoteza iliyopotea ripoti ob
svc-police-abstract-info = Ripoti upotevu kituo chochote cha polisi upate nambari ya OB, kisha pata abstract ecitizen.go.ke. Piga {$service_dial}
svc-report-crime = Ripoti uhalifu
    .keywords = ripoti uhalifu polisi dharura fichua dci
svc-report-crime-info = Dharura: piga 999, 112 au 911 bure. Toa taarifa kwa siri kwa DCI: 0800 722 203 (Fichua kwa DCI). Piga {$service_dial}

# Usajili wa vizazi na vifo (Civil Registration Services (births, deaths)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

agency-crs = Usajili wa Vizazi na Vifo (CRS)
crs-enter-entry = Weka nambari ya usajili wa kuzaliwa (entry number):
crs-entry-invalid = Tarakimu 4 hadi 10 tu. Jaribu tena.

svc-birth-certificate = Cheti cha kuzaliwa
    .keywords = cheti kuzaliwa mtoto birth certificate usajili
svc-birth-late-registration = Usajili wa kuzaliwa uliochelewa
    .keywords = kuzaliwa kuchelewa usajili cheti birth late
svc-birth-late-registration-info = Hajasajiliwa kwa miezi 6: nenda ofisi ya usajili na kadi ya kliniki, ID za wazazi, barua ya chifu. Piga {$service_dial}
svc-death-certificate = Cheti cha kifo
    .keywords = cheti kifo kufa marehemu mazishi death certificate
svc-death-certificate-info = Omba ecitizen.go.ke (Usajili wa Raia) na notisi ya kifo na ID ya marehemu. Ada KES 50. Piga {$service_dial}
svc-marriage-certificate = Cheti cha ndoa
    .keywords = cheti ndoa harusi kuoa kuolewa marriage certificate
svc-marriage-certificate-info = Toa notisi ecitizen.go.ke (Marriages) siku 21 kabla. Njooni kwa Msajili na ID zenu na mashahidi 2. Piga {$service_dial}

# NSSF (malipo ya uzeeni) (National Social Security Fund (NSSF)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

svc-nssf-register = Jisajili NSSF
    .keywords = nssf jisajili usajili pensheni uzeeni register
svc-nssf-register-info = Jisajili bure ofisi ya NSSF, Huduma Centre au nssf.or.ke. Leta ID; nambari ya NSSF itakuja kwa SMS. Piga {$service_dial}
svc-nssf-statement = Taarifa ya michango ya NSSF
    .keywords = nssf taarifa michango statement salio pensheni
svc-nssf-statement-info = Ingia nssf.or.ke (self-service) kwa nambari ya NSSF, au uliza ofisi yoyote ya NSSF ukiwa na ID. Piga {$service_dial}
svc-nssf-contribution = Lipa michango ya NSSF
    .keywords = nssf michango lipa mchango pensheni haba
svc-nssf-contribution-info = Mfanyakazi 6% ya mshahara na mwajiri 6%. Wasio na mwajiri: paybill 333300, akaunti: nambari ya ID. Piga {$service_dial}
svc-nssf-benefits = Dai mafao ya NSSF
    .keywords = nssf mafao pensheni uzeeni dai kustaafu benefits
svc-nssf-benefits-info = Dai mafao ya uzeeni kuanzia miaka 60 ofisi ya NSSF au nssf.or.ke. Leta ID, PIN ya KRA na benki. Piga {$service_dial}

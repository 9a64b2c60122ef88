# Kenya Universities and Colleges Central Placement Service (KUCCPS): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

agency-kuccps = College placement (KUCCPS)

svc-kuccps-application = Apply for a course (KUCCPS)
    .keywords = kuccps apply course university college tvet
svc-kuccps-application-info = Apply on students.kuccps.net with your KCSE index number and year. Fee KES 1,500. Dial {$service_dial}
svc-kuccps-placement = Placement results
    .keywords = kuccps placement results university college course
svc-kuccps-placement-info = Log in on students.kuccps.net, or SMS your KCSE index number to 20842, to see your course. Dial {$service_dial}
svc-kuccps-transfer = Change college (transfer)
    .keywords = kuccps transfer change college course university
svc-kuccps-transfer-info = Apply on students.kuccps.net when the transfer window opens. Both colleges must agree. Dial {$service_dial}

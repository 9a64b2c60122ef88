# Ujumbe mfupi (SMS) anaotumiwa mwananchi baada ya ombi lake. Kila ujumbe una nambari ya
# kumbukumbu ({$reference}) ili mwananchi aweze kufuatilia ombi lake kwa *384#.

sms-service = { $service ->
        [land-rates] ushuru wa ardhi
        [licence-renewal] leseni ya udereva
       *[other] huduma
    }
sms-fulfilled-paid = e-Citizen: Tumepokea KES {$amount} za {$service}, risiti ya M-Pesa {$receipt}. Ombi {$reference} limekamilika. Asante.
sms-fulfilled = e-Citizen: Ombi {$reference} la {$service} limekamilika. Asante.
sms-rejected = e-Citizen: Ombi {$reference} la {$service} limekataliwa na idara husika. Piga *384# kwa maelezo zaidi.
sms-rejected-paid = e-Citizen: Ombi {$reference} la {$service} limekataliwa. Malipo yako ya KES {$amount} (M-Pesa {$receipt}) yatakaguliwa kuona kama utarejeshewa pesa.
sms-payment-insufficient = e-Citizen: Malipo ya ombi {$reference} hayakufanikiwa: salio la M-Pesa halitoshi. Ongeza salio kisha piga *384# tena.
sms-payment-cancelled = e-Citizen: Ulighairi malipo ya ombi {$reference}. Piga *384# ukitaka kujaribu tena.
sms-payment-unreachable = e-Citizen: Ujumbe wa M-Pesa wa kulipia ombi {$reference} haukufika kwenye simu yako. Hakikisha simu iko hewani kisha piga *384# tena.
sms-payment-wrong-pin = e-Citizen: PIN ya M-Pesa si sahihi; ombi {$reference} halijalipwa. Piga *384# ujaribu tena.
sms-payment-busy = e-Citizen: Simu yako ilikuwa ikitumika, kwa hivyo hatukuweza kutuma ujumbe wa M-Pesa wa kulipia ombi {$reference}. Piga *384# ujaribu tena.
sms-payment-failed = e-Citizen: Malipo ya ombi {$reference} hayakufanikiwa na hujakatwa pesa. Piga *384# ujaribu tena.
sms-payment-unknown = e-Citizen: Bado tunathibitisha malipo ya ombi {$reference}. Usilipe tena; tutakutumia SMS.
sms-delayed = e-Citizen: Ombi {$reference} la {$service} limechelewa kwa sababu idara husika haipatikani. Tunalishughulikia; hutahitaji kulipa tena.

# Majibu ya SMS anazotuma mwananchi kwa nambari fupi ya e-Citizen. Neno la kwanza la ujumbe
# ndilo neno kuu: HALI (hali ya ombi) au LUGHA (lugha ya huduma). Jibu huja kwa lugha ya neno
# kuu alilotumia.

sms-keyword-status = HALI
sms-keyword-language = LUGHA
sms-help = e-Citizen: Tuma HALI na nambari ya ombi, mfano HALI NJ-7K2QX. Tuma LUGHA EN kwa Kiingereza.
sms-status = e-Citizen: Ombi {$reference} la {$service} { $status ->
        [received] limepokelewa.
        [payment_pending] linasubiri malipo. Ujumbe wa M-Pesa ukifika, weka PIN yako.
        [paid] limelipwa na linashughulikiwa.
        [payment_failed] halijalipwa: malipo hayakufanikiwa. Piga *384# ujaribu tena.
        [payment_unknown] linasubiri uthibitisho wa malipo. Usilipe tena.
        [held_for_review] linakaguliwa: malipo yake hayakulingana. Usilipe tena; tutawasiliana nawe.
        [fulfilling] linashughulikiwa na idara husika.
        [fulfilled] limekamilika.
        [rejected] limekataliwa na idara husika. Piga *384# kwa maelezo zaidi.
       *[other] linashughulikiwa.
    }
sms-status-unknown = e-Citizen: Hatukupata ombi {$reference} la nambari hii ya simu. Hakikisha nambari ya ombi ni sahihi, au piga *384# uone maombi yako.
sms-language-set = e-Citizen: Sawa. Sasa utahudumiwa kwa Kiswahili, kwa SMS na kwa *384#.
sms-language-unknown = e-Citizen: Hatuna lugha hiyo. Tuma LUGHA SW kwa Kiswahili au LUGHA EN kwa Kiingereza.
sms-push-unknown = e-Citizen: Bado hatujathibitisha ujumbe wa malipo wa M-Pesa wa ombi {$reference}. Usilipe tena hadi tukutumie SMS; tuma HALI {$reference} kuangalia.
sms-next-time = Wakati ujao piga {$dial}

# Maneno ya mfumo: urambazaji na makosa. Kila lugha lazima iwe nayo yote.
njia-invalid-choice = Chaguo si sahihi.
njia-invalid-input = Jibu si sahihi. Jaribu tena.
njia-lookup-failed = Samahani, huduma haipatikani kwa sasa. Jaribu tena.
njia-lookup-not-found = Hatukupata taarifa hiyo.
njia-nav-back = Rudi
njia-nav-home = Mwanzo
njia-nav-more = Zaidi
njia-unknown-service = Samahani, huduma hii haipo. Piga *384# kwa huduma za e-Citizen.
njia-technical-problem = Samahani, kuna tatizo la kiufundi. Jaribu tena baadaye.
njia-session-expired = Muda umekwisha. Piga *384# tena kuanza upya.
njia-rate-limited = Samahani, kuna majaribio mengi mno kwa sasa. Jaribu tena baada ya dakika moja.
njia-resume-offer = Huduma ilikatika. Ungependa kuendelea ulipofikia?
njia-resume-continue = Endelea
njia-resume-restart = Anza upya

"""The primary literature the catalog cites: one :class:`Reference` per publication, shared by entries.

Each catalog entry (activation, vector function, loss, row loss) lists in ``reference`` the work that
introduced the function (or, for textbook functions, the standard reference that defines it). The
reference docs print them per function, with a link, and the LaTeX reference collects them in its
bibliography. Every reference carries a year and something a reader can look up: an arXiv id, a DOI,
or the venue (proceedings, journal, publisher) — ``tests/test_docs.py`` checks this for every entry.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """One publication. ``key`` names it in the LaTeX bibliography (unique); ``venue`` is where it
    appeared (journal with volume and pages, proceedings, publisher, or "arXiv preprint")."""

    key: str
    authors: str
    title: str
    year: int
    venue: str
    arxiv: str = ""     # "1502.01852"
    doi: str = ""       # "10.1214/aoms/1177703732"
    url: str = ""       # where neither arXiv nor a DOI exists

    @property
    def link(self) -> str:
        """The most durable link: the DOI, else arXiv, else the URL (may be empty)."""
        if self.doi:
            return f"https://doi.org/{self.doi}"
        if self.arxiv:
            return f"https://arxiv.org/abs/{self.arxiv}"
        return self.url

    @property
    def short(self) -> str:
        """'He et al. (2015)', 'Nair & Hinton (2010)', 'Huber (1964)'."""
        names = [a.strip() for a in self.authors.replace(" and ", ", ").split(",") if a.strip()]
        last = [n.split()[-1] for n in names]
        if len(last) == 1:
            who = last[0]
        elif len(last) == 2:
            who = f"{last[0]} & {last[1]}"
        else:
            who = f"{last[0]} et al."
        return f"{who} ({self.year})"

    @property
    def ids(self) -> str:
        """'arXiv:1502.01852', 'doi:10.1214/aoms/1177703732', both, or ''."""
        parts = ([f"doi:{self.doi}"] if self.doi else []) + ([f"arXiv:{self.arxiv}"] if self.arxiv else [])
        return ", ".join(parts)

    def __str__(self) -> str:
        tail = f" {self.ids}." if self.ids else (f" {self.url}" if self.url else "")
        return f"{self.authors} ({self.year}). {self.title}. {self.venue}.{tail}"


def R(*args, **kwargs) -> Reference:
    return Reference(*args, **kwargs)


# --- activations ---------------------------------------------------------------------------------
MCCULLOCH_1943 = R("mcculloch1943", "W. S. McCulloch, W. Pitts", "A logical calculus of the ideas immanent in "
                   "nervous activity", 1943, "Bulletin of Mathematical Biophysics 5(4), 115–133",
                   doi="10.1007/BF02478259")
ROSENBLATT_1958 = R("rosenblatt1958", "F. Rosenblatt", "The perceptron: a probabilistic model for information "
                    "storage and organization in the brain", 1958, "Psychological Review 65(6), 386–408",
                    doi="10.1037/h0042519")
GOODFELLOW_2016 = R("goodfellow2016", "I. Goodfellow, Y. Bengio, A. Courville", "Deep Learning", 2016,
                    "MIT Press", url="https://www.deeplearningbook.org")
LECUN_1998 = R("lecun1998", "Y. LeCun, L. Bottou, G. B. Orr, K.-R. Müller", "Efficient BackProp", 1998,
               "Neural Networks: Tricks of the Trade, LNCS 1524, Springer, 9–50", doi="10.1007/3-540-49430-8_2")
NAIR_2010 = R("nair2010", "V. Nair and G. E. Hinton", "Rectified linear units improve restricted Boltzmann "
              "machines", 2010, "Proceedings of the 27th International Conference on Machine Learning (ICML), "
              "807–814", url="https://icml.cc/Conferences/2010/papers/432.pdf")
GLOROT_2011 = R("glorot2011", "X. Glorot, A. Bordes, Y. Bengio", "Deep sparse rectifier neural networks", 2011,
                "Proceedings of the 14th International Conference on Artificial Intelligence and Statistics "
                "(AISTATS), PMLR 15, 315–323", url="https://proceedings.mlr.press/v15/glorot11a.html")
MAAS_2013 = R("maas2013", "A. L. Maas, A. Y. Hannun, A. Y. Ng", "Rectifier nonlinearities improve neural "
              "network acoustic models", 2013, "ICML Workshop on Deep Learning for Audio, Speech and Language "
              "Processing", url="https://ai.stanford.edu/~amaas/papers/relu_hybrid_icml2013_final.pdf")
HE_2015 = R("he2015", "K. He, X. Zhang, S. Ren, J. Sun", "Delving deep into rectifiers: surpassing human-level "
            "performance on ImageNet classification", 2015, "IEEE International Conference on Computer Vision "
            "(ICCV)", arxiv="1502.01852")
CLEVERT_2015 = R("clevert2015", "D.-A. Clevert, T. Unterthiner, S. Hochreiter", "Fast and accurate deep network "
                 "learning by exponential linear units (ELUs)", 2015, "International Conference on Learning "
                 "Representations (ICLR 2016)", arxiv="1511.07289")
BARRON_2017 = R("barron2017", "J. T. Barron", "Continuously differentiable exponential linear units", 2017,
                "arXiv preprint", arxiv="1704.07483")
KLAMBAUER_2017 = R("klambauer2017", "G. Klambauer, T. Unterthiner, A. Mayr, S. Hochreiter", "Self-normalizing "
                   "neural networks", 2017, "Advances in Neural Information Processing Systems 30 (NeurIPS)",
                   arxiv="1706.02515")
HENDRYCKS_2016 = R("hendrycks2016", "D. Hendrycks and K. Gimpel", "Gaussian error linear units (GELUs)", 2016,
                   "arXiv preprint", arxiv="1606.08415")
KRIZHEVSKY_2010 = R("krizhevsky2010", "A. Krizhevsky", "Convolutional deep belief networks on CIFAR-10", 2010,
                    "unpublished manuscript, University of Toronto",
                    url="http://www.cs.utoronto.ca/~kriz/conv-cifar10-aug2010.pdf")
DUGAS_2001 = R("dugas2001", "C. Dugas, Y. Bengio, F. Bélisle, C. Nadeau, R. Garcia", "Incorporating second-order "
               "functional knowledge for better option pricing", 2001, "Advances in Neural Information "
               "Processing Systems 13 (NIPS 2000), MIT Press, 472–478",
               url="https://papers.nips.cc/paper/1920-incorporating-second-order-functional-knowledge-for-"
                   "better-option-pricing")
ELFWING_2017 = R("elfwing2017", "S. Elfwing, E. Uchibe, K. Doya", "Sigmoid-weighted linear units for neural "
                 "network function approximation in reinforcement learning", 2017,
                 "Neural Networks 107 (2018), 3–11", arxiv="1702.03118", doi="10.1016/j.neunet.2017.12.012")
RAMACHANDRAN_2017 = R("ramachandran2017", "P. Ramachandran, B. Zoph, Q. V. Le", "Searching for activation "
                      "functions", 2017, "arXiv preprint (ICLR 2018 workshop)", arxiv="1710.05941")
SITZMANN_2020 = R("sitzmann2020", "V. Sitzmann, J. N. P. Martel, A. W. Bergman, D. B. Lindell, G. Wetzstein",
                  "Implicit neural representations with periodic activation functions", 2020,
                  "Advances in Neural Information Processing Systems 33 (NeurIPS)", arxiv="2006.09661")
MISRA_2019 = R("misra2019", "D. Misra", "Mish: a self regularized non-monotonic activation function", 2019,
               "British Machine Vision Conference (BMVC 2020)", arxiv="1908.08681")
HOWARD_2019 = R("howard2019", "A. Howard, M. Sandler, G. Chu, L.-C. Chen, B. Chen, M. Tan, W. Wang, Y. Zhu, R. Pang, "
                "V. Vasudevan, Q. V. Le, H. Adam", "Searching for MobileNetV3", 2019, "IEEE/CVF International "
                "Conference on Computer Vision (ICCV), 1314–1324", arxiv="1905.02244")
COURBARIAUX_2015 = R("courbariaux2015", "M. Courbariaux, Y. Bengio, J.-P. David", "BinaryConnect: training deep "
                     "neural networks with binary weights during propagations", 2015, "Advances in Neural "
                     "Information Processing Systems 28 (NIPS)", arxiv="1511.00363")
COLLOBERT_2004 = R("collobert2004", "R. Collobert", "Large scale machine learning", 2004,
                   "PhD thesis, Université Paris VI")
COLLOBERT_2011 = R("collobert2011", "R. Collobert, K. Kavukcuoglu, C. Farabet", "Torch7: a Matlab-like environment "
                   "for machine learning", 2011, "BigLearn, NIPS Workshop",
                   url="https://infoscience.epfl.ch/record/192376")
GULCEHRE_2016 = R("gulcehre2016", "C. Gulcehre, M. Moczulski, M. Denil, Y. Bengio", "Noisy activation functions",
                  2016, "Proceedings of the 33rd International Conference on Machine Learning (ICML), PMLR 48, "
                  "3059–3068", arxiv="1603.00391")
DONOHO_1994 = R("donoho1994", "D. L. Donoho and I. M. Johnstone", "Ideal spatial adaptation by wavelet shrinkage",
                1994, "Biometrika 81(3), 425–455", doi="10.1093/biomet/81.3.425")
DONOHO_1995 = R("donoho1995", "D. L. Donoho", "De-noising by soft-thresholding", 1995,
                "IEEE Transactions on Information Theory 41(3), 613–627", doi="10.1109/18.382009")
GLOROT_2010 = R("glorot2010", "X. Glorot and Y. Bengio", "Understanding the difficulty of training deep "
                "feedforward neural networks", 2010, "Proceedings of the 13th International Conference on "
                "Artificial Intelligence and Statistics (AISTATS), PMLR 9, 249–256",
                url="https://proceedings.mlr.press/v9/glorot10a.html")
XU_2015 = R("xu2015", "B. Xu, N. Wang, T. Chen, M. Li", "Empirical evaluation of rectified activations in "
            "convolutional network", 2015, "ICML Deep Learning Workshop", arxiv="1505.00853")
BARRON_2021 = R("barron2021", "J. T. Barron", "Squareplus: a softplus-like algebraic rectifier", 2021,
                "arXiv preprint", arxiv="2112.11687")
BLONDEL_2020 = R("blondel2020", "M. Blondel, A. F. T. Martins, V. Niculae", "Learning with Fenchel-Young losses",
                 2020, "Journal of Machine Learning Research 21(35), 1–69", arxiv="1901.02324")
MARTINS_2016 = R("martins2016", "A. F. T. Martins and R. F. Astudillo", "From softmax to sparsemax: a sparse model "
                 "of attention and multi-label classification", 2016, "Proceedings of the 33rd International "
                 "Conference on Machine Learning (ICML), PMLR 48, 1614–1623", arxiv="1602.02068")

# --- vector functions ----------------------------------------------------------------------------
BRIDLE_1990 = R("bridle1990", "J. S. Bridle", "Probabilistic interpretation of feedforward classification "
                "network outputs, with relationships to statistical pattern recognition", 1990,
                "Neurocomputing, NATO ASI Series F 68, Springer, 227–236", doi="10.1007/978-3-642-76153-9_28")
BLANCHARD_2021 = R("blanchard2021", "P. Blanchard, D. J. Higham, N. J. Higham", "Accurately computing the "
                   "log-sum-exp and softmax functions", 2021, "IMA Journal of Numerical Analysis 41(4), "
                   "2311–2330", doi="10.1093/imanum/draa038")
GOODFELLOW_2013 = R("goodfellow2013", "I. J. Goodfellow, D. Warde-Farley, M. Mirza, A. Courville, Y. Bengio",
                    "Maxout networks", 2013, "Proceedings of the 30th International Conference on Machine "
                    "Learning (ICML), PMLR 28(3), 1319–1327", arxiv="1302.4389")
DAUPHIN_2017 = R("dauphin2017", "Y. N. Dauphin, A. Fan, M. Auli, D. Grangier",
                 "Language modeling with gated convolutional networks", 2017, "Proceedings of the 34th "
                 "International Conference on Machine Learning (ICML), PMLR 70, 933–941", arxiv="1612.08083")

# --- losses -----------------------------------------------------------------------------------------
NEUNEIER_1998 = R("neuneier1998", "R. Neuneier and H. G. Zimmermann", "How to train neural networks", 1998,
                  "Neural Networks: Tricks of the Trade, LNCS 1524, Springer, 373–423", doi="10.1007/3-540-49430-8_18")
NIX_1994 = R("nix1994", "D. A. Nix and A. S. Weigend", "Estimating the mean and variance of the target probability "
             "distribution", 1994, "Proceedings of the IEEE International Conference on Neural Networks (ICNN), "
             "vol. 1, 55–60", doi="10.1109/ICNN.1994.374138")
NELDER_1972 = R("nelder1972", "J. A. Nelder and R. W. M. Wedderburn", "Generalized linear models", 1972,
                "Journal of the Royal Statistical Society, Series A 135(3), 370–384", doi="10.2307/2344614")
CAMERON_2013 = R("cameron2013", "A. C. Cameron and P. K. Trivedi", "Regression Analysis of Count Data (2nd ed.)",
                 2013, "Cambridge University Press", doi="10.1017/CBO9781139013567")
MCCULLAGH_1989 = R("mccullagh1989", "P. McCullagh and J. A. Nelder", "Generalized Linear Models (2nd ed.)", 1989,
                   "Chapman and Hall, London", doi="10.1007/978-1-4899-3242-6")
HASTIE_2009 = R("hastie2009", "T. Hastie, R. Tibshirani, J. Friedman", "The Elements of Statistical Learning: "
                "Data Mining, Inference, and Prediction (2nd ed.)", 2009, "Springer",
                doi="10.1007/978-0-387-84858-7")
ROSASCO_2004 = R("rosasco2004", "L. Rosasco, E. De Vito, A. Caponnetto, M. Piana, A. Verri", "Are loss functions "
                 "all the same?", 2004, "Neural Computation 16(5), 1063–1076", doi="10.1162/089976604773135104")
HUBER_1964 = R("huber1964", "P. J. Huber", "Robust estimation of a location parameter", 1964,
               "Annals of Mathematical Statistics 35(1), 73–101", doi="10.1214/aoms/1177703732")
GIRSHICK_2015 = R("girshick2015", "R. Girshick", "Fast R-CNN", 2015, "IEEE International Conference on Computer "
                  "Vision (ICCV)", arxiv="1504.08083")
CHARBONNIER_1994 = R("charbonnier1994", "P. Charbonnier, L. Blanc-Féraud, G. Aubert, M. Barlaud",
                     "Two deterministic half-quadratic regularization algorithms for computed imaging", 1994,
                     "Proceedings of the 1st IEEE International Conference on Image Processing (ICIP), "
                     "vol. 2, 168–172", doi="10.1109/ICIP.1994.413553")
HARTLEY_2004 = R("hartley2004", "R. Hartley and A. Zisserman", "Multiple View Geometry in Computer Vision "
                 "(2nd ed.)", 2004, "Cambridge University Press", doi="10.1017/CBO9780511811685")
CORTES_1995 = R("cortes1995", "C. Cortes and V. Vapnik", "Support-vector networks", 1995,
                "Machine Learning 20(3), 273–297", doi="10.1007/BF00994018")
COX_1958 = R("cox1958", "D. R. Cox", "The regression analysis of binary sequences", 1958,
             "Journal of the Royal Statistical Society, Series B 20(2), 215–242",
             doi="10.1111/j.2517-6161.1958.tb00292.x")
KULLBACK_1951 = R("kullback1951", "S. Kullback and R. A. Leibler", "On information and sufficiency", 1951,
                  "Annals of Mathematical Statistics 22(1), 79–86", doi="10.1214/aoms/1177729694")
SHANNON_1948 = R("shannon1948", "C. E. Shannon", "A mathematical theory of communication", 1948,
                 "Bell System Technical Journal 27(3), 379–423", doi="10.1002/j.1538-7305.1948.tb01338.x")
HERBRICH_2000 = R("herbrich2000", "R. Herbrich, T. Graepel, K. Obermayer", "Large margin rank boundaries for "
                  "ordinal regression", 2000, "Advances in Large Margin Classifiers, MIT Press, 115–132")
JOACHIMS_2002 = R("joachims2002", "T. Joachims", "Optimizing search engines using clickthrough data", 2002,
                  "Proceedings of the 8th ACM SIGKDD International Conference on Knowledge Discovery and Data "
                  "Mining (KDD), 133–142", doi="10.1145/775047.775067")
WESTON_1999 = R("weston1999", "J. Weston and C. Watkins", "Support vector machines for multi-class pattern "
                "recognition", 1999, "Proceedings of the 7th European Symposium on Artificial Neural Networks "
                "(ESANN), 219–224", url="http://www.elen.ucl.ac.be/Proceedings/esann/esannpdf/es1999-461.pdf")
ELISSEEFF_2001 = R("elisseeff2001", "A. Elisseeff and J. Weston", "A kernel method for multi-labelled "
                   "classification", 2001, "Advances in Neural Information Processing Systems 14 (NIPS), "
                   "MIT Press, 681–687")
HADSELL_2006 = R("hadsell2006", "R. Hadsell, S. Chopra, Y. LeCun", "Dimensionality reduction by learning an "
                 "invariant mapping", 2006, "IEEE Conference on Computer Vision and Pattern Recognition (CVPR), "
                 "vol. 2, 1735–1742", doi="10.1109/CVPR.2006.100")
SCHROFF_2015 = R("schroff2015", "F. Schroff, D. Kalenichenko, J. Philbin", "FaceNet: a unified embedding for "
                 "face recognition and clustering", 2015, "IEEE Conference on Computer Vision and Pattern "
                 "Recognition (CVPR)", arxiv="1503.03832")
WEINBERGER_2009 = R("weinberger2009", "K. Q. Weinberger and L. K. Saul", "Distance metric learning for large "
                    "margin nearest neighbor classification", 2009, "Journal of Machine Learning Research 10, "
                    "207–244", url="https://jmlr.org/papers/v10/weinberger09a.html")
BALNTAS_2016 = R("balntas2016", "V. Balntas, E. Riba, D. Ponsa, K. Mikolajczyk", "Learning local feature "
                 "descriptors with triplets and shallow convolutional neural networks", 2016,
                 "Proceedings of the British Machine Vision Conference (BMVC), 119.1–119.11",
                 doi="10.5244/C.30.119")
TSOUMAKAS_2007 = R("tsoumakas2007", "G. Tsoumakas and I. Katakis", "Multi-label classification: an overview", 2007,
                   "International Journal of Data Warehousing and Mining 3(3), 1–13", doi="10.4018/jdwm.2007070101")
